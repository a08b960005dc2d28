"""The browser view (docker/compose.web.yaml), tested in a real browser.

Debian's chromium, driven by Selenium through Debian's chromedriver (the two
are packaged together, so their versions match; nothing is downloaded at test
time).  noVNC draws the screen into a canvas, so there are no elements to
inspect: the test judges the page by the canvas's pixels, types through the
page's keyboard handling, and checks the effect with a raw socket on the host.
Screenshots and the measured times land in ``artifacts/<test>/``.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from docker_helpers import BUILD_TIMEOUT, BuiltImage, ComposeProject, base_image, docker
from harness import ChatProcess, RawPeer

pytestmark = pytest.mark.docker

WEB_FILES = (
    "compose.yaml",
    "docker/compose.web.yaml",
    "docker/compose.test.yaml",
    "docker/compose.web.test.yaml",
)
WEB_PORT = 6080  # the web container's own, on the test's loopback address
SCREEN = (1280, 720)  # compose.web.yaml's default TCPCHAT_WEB_SCREEN
# Debian's browser and its driver; elsewhere (a CI runner with Google Chrome)
# point these at a matching pair.
CHROMIUM = os.environ.get("TCPCHAT_CHROMIUM") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("TCPCHAT_CHROMEDRIVER") or "/usr/bin/chromedriver"
CLIENT_NICK = "guest"  # compose.yaml's default TCPCHAT_NICK
PAGE_TIMEOUT = 60.0

# Colours in a grid of samples over each half of the canvas, and a fingerprint
# of the whole: enough to tell two windows from a blank screen or an error page.
CANVAS_STATE = """
const canvas = document.querySelector('#noVNC_container canvas');
if (!canvas || !document.documentElement.classList.contains('noVNC_connected')
        || canvas.width < 2 || canvas.height < 2) {
    return null;
}
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
const halves = [new Set(), new Set()];
let fingerprint = 0;
for (let y = 0; y < canvas.height; y += 3) {
    for (let x = 0; x < canvas.width; x += 3) {
        const i = (y * canvas.width + x) * 4;
        const colour = (pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2];
        halves[x < canvas.width / 2 ? 0 : 1].add(colour);
        fingerprint = (fingerprint * 31 + colour) | 0;
    }
}
return {width: canvas.width, height: canvas.height, left: halves[0].size,
        right: halves[1].size, fingerprint: fingerprint};
"""
# How the canvas sits in the page: it must fill the page's width or height.
CANVAS_FIT = """
const canvas = document.querySelector('#noVNC_container canvas');
return [canvas.clientWidth, canvas.clientHeight, window.innerWidth, window.innerHeight];
"""
STATUS_HIDDEN = """
return !document.getElementById('noVNC_status').classList.contains('noVNC_open');
"""
WINDOW_COLOURS = 12  # a window's text, borders and status dot; a blank half has 1 or 2


@pytest.fixture(scope="module")
def web_image(docker_engine: None) -> Iterator[str]:
    """docker/web.Dockerfile, built once for this module, removed at the end."""
    tag = f"tcpchat-web-test:{uuid.uuid4().hex[:8]}"
    try:
        docker(
            "build", "--force-rm", "--network", "host", "--build-arg",
            f"PYTHON_IMAGE={base_image()}", "--file", "docker/web.Dockerfile", "--tag", tag, ".",
            timeout=BUILD_TIMEOUT, env={"DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        yield tag
    finally:
        docker("image", "rm", "--force", tag, check=False)


@pytest.fixture
def web_stack(
    tcpchat_image: BuiltImage, web_image: str, address: tuple[str, int], tmp_path: Path
) -> Iterator[ComposeProject]:
    """The three containers on this test's loopback address; down (and volume gone) at the end."""
    name = f"tcpchat-web-test-{uuid.uuid4().hex[:6]}"
    stack = ComposeProject(name, WEB_FILES, tcpchat_image.runtime, address[0], tmp_path / "s")
    stack.env["TCPCHAT_WEB_IMAGE"] = web_image
    try:
        yield stack
    finally:
        stack.down()
        label = f"label=com.docker.compose.project={name}"
        left = docker("ps", "--all", "--quiet", "--filter", label)
        assert not left.stdout.split(), f"containers left after `docker compose down`: {left}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless chromium under Selenium, with a profile of its own."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian: chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--window-size=1400,900", f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class WebView:
    """The browser view's stack, not started yet, and a browser to look at it with."""

    stack: ComposeProject
    browser: Any


@pytest.fixture
def web_view(web_stack: ComposeProject, browser: Any) -> WebView:
    return WebView(web_stack, browser)


def wait_for(
    driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = PAGE_TIMEOUT
) -> Any:
    """Poll *condition* until it returns something true; that value."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        state = driver.execute_script(CANVAS_STATE)
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what}; canvas: {state}"
        ) from None


def both_windows_shown(driver: Any) -> dict[str, int] | None:
    state = driver.execute_script(CANVAS_STATE)
    if state and min(state["left"], state["right"]) >= WINDOW_COLOURS:
        return dict(state)
    return None


def settled(driver: Any) -> Callable[[Any], bool]:
    """A condition: the canvas did not change between two polls (the screen is drawn)."""
    last: list[int] = []

    def check(_driver: Any) -> bool:
        fingerprint = int(driver.execute_script(CANVAS_STATE)["fingerprint"])
        done = last == [fingerprint]
        last[:] = [fingerprint]
        return done

    return check


def fits_the_page(driver: Any) -> bool:
    """The canvas is as large as the page allows, keeping the screen's proportions."""
    width, height, page_width, page_height = driver.execute_script(CANVAS_FIT)
    fits = width <= page_width and height <= page_height
    fills = abs(width - page_width) <= 2 or abs(height - page_height) <= 2
    return bool(fits and fills and abs(width / height - SCREEN[0] / SCREEN[1]) < 0.02)


def screenshot(driver: Any, path: Path) -> None:
    """Save the page once noVNC's "Connected" banner is gone and the canvas settled."""
    wait_for(driver, lambda d: d.execute_script(STATUS_HIDDEN), "the status banner to hide")
    wait_for(driver, settled(driver), "the canvas to settle")
    driver.save_screenshot(str(path))


def click_screen(driver: Any, x: int, y: int) -> None:
    """Click at (*x*, *y*) of the virtual screen, through the scaled canvas."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("css selector", "#noVNC_container canvas")
    width, height = canvas.size["width"], canvas.size["height"]
    offset_x = round((x / SCREEN[0] - 0.5) * width)  # Selenium offsets from the centre
    offset_y = round((y / SCREEN[1] - 0.5) * height)
    ActionChains(driver).move_to_element_with_offset(canvas, offset_x, offset_y).click().perform()


def type_keys(driver: Any, text: str) -> None:
    """Type *text* and Return into the page: noVNC sends the keys to the screen."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(text).send_keys(Keys.ENTER).perform()


def test_compose_files_of_the_web_view_are_valid(docker_engine: None) -> None:
    """`docker compose config` accepts the browser view, alone and under test."""
    env = {"TCPCHAT_TEST_HOST": "127.0.0.1", "TCPCHAT_TEST_SCREENS": "/tmp"}
    for files in (WEB_FILES[:2], WEB_FILES):
        options = [part for file in files for part in ("-f", file)]
        docker("compose", *options, "config", "--quiet", env=env)


# Its set-up may build both images (the session's and the web one): on a busy
# machine that alone can pass pytest's default 120 s.
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_browser_shows_both_windows_and_typing_in_the_page_chats(
    web_view: WebView,
    start_process: Callable[..., ChatProcess],
    raw_peer: Callable[..., RawPeer],
    artifacts_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`up` the browser view, open its page: the canvas shows the server window
    and the client window side by side; keys typed into the page reach the
    client window's entry (it has the keyboard from the start, with no window
    manager) and go out as chat to a raw peer on the host; a click moves the
    keyboard to the server window."""
    stack, browser = web_view.stack, web_view.browser
    started = time.monotonic()
    stack.up()  # returns once the web container and both windows are healthy
    healthy = time.monotonic() - started
    client = start_process([], command=stack.log_command("client"), name="client container")
    server = start_process([], command=stack.log_command("server"), name="server container")
    client.wait_for_output(r"\* welcome, you are ")

    browser.get(f"http://{stack.host}:{WEB_PORT}/")
    shown = wait_for(browser, both_windows_shown, "both windows on the canvas")
    page = time.monotonic() - started
    assert (shown["width"], shown["height"]) == SCREEN
    assert "vnc.html?autoconnect=1" in browser.current_url  # the index page redirected
    wait_for(browser, fits_the_page, "the canvas to fit the page")
    browser.set_window_size(900, 700)  # the page scales the screen to the window
    wait_for(browser, fits_the_page, "the canvas to fit the smaller page")
    browser.set_window_size(1400, 900)
    screenshot(browser, artifacts_dir / "browser-view-start.png")

    peer = raw_peer()
    peer.expect_line(r"^\* welcome, you are ")
    peer.send_line("/nick host")
    peer.expect_line(r"is now host$")

    # The keys go to the page's canvas, noVNC sends them to the screen, and the
    # client window's entry has the keyboard: no click, no focusing by hand.
    browser.execute_script("document.querySelector('#noVNC_container canvas').focus();")
    type_keys(browser, "hello from the browser")
    assert peer.expect_line(rf"^{CLIENT_NICK}: ") == f"{CLIENT_NICK}: hello from the browser"

    # A click into the server window's entry (left half, above its status bar)
    # gives it the keyboard: the operator speaks.
    click_screen(browser, SCREEN[0] // 4, SCREEN[1] - 52)
    type_keys(browser, "hello from the server window")
    assert peer.expect_line(r"^Server: ") == "Server: hello from the server window"
    peer.send_line("hello from the host")
    # Each window logs a line after drawing it.
    for window in (server, client):
        window.wait_for_output(r"host: hello from the host$")
    screenshot(browser, artifacts_dir / "browser-view.png")

    timing = (
        f"docker compose up --wait (images built): {healthy:.1f} s\n"
        f"up until the page showed both windows: {page:.1f} s\n"
    )
    (artifacts_dir / "timing.txt").write_text(timing, encoding="utf-8")
    with capsys.disabled():
        print(f"\n--- browser view ---\n{timing}", end="")
