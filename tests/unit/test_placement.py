"""tcpchat.gui.placement's pure part: where windows go on a screen with no window manager."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat.cli import build_parser
from tcpchat.gui.placement import geometry, geometry_for

MINIMUM = (460, 300)  # what the chat windows ask for (gui/base.py)


def parts(text: str) -> tuple[int, int, int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)\+(\d+)\+(\d+)", text)
    assert match, text
    width, height, x, y = (int(part) for part in match.groups())
    return width, height, x, y


def test_a_1280_by_720_screen_is_split_into_two_halves() -> None:
    assert geometry_for("server", (1280, 720), minimum=MINIMUM) == "640x720+0+0"
    assert geometry_for("client", (1280, 720), minimum=MINIMUM) == "640x720+640+0"


def test_an_odd_width_leaves_no_gap_and_no_overlap() -> None:
    assert geometry_for("server", (1025, 768)) == "512x768+0+0"
    assert geometry_for("client", (1025, 768)) == "512x768+513+0"


@given(st.integers(2 * MINIMUM[0], 8000), st.integers(MINIMUM[1], 5000))
def test_side_by_side_without_overlap_on_any_screen_wide_enough(width: int, height: int) -> None:
    left = parts(geometry_for("server", (width, height), minimum=MINIMUM))
    right = parts(geometry_for("client", (width, height), minimum=MINIMUM))
    assert left[2] == 0
    assert left[0] >= MINIMUM[0]
    assert right[2] >= left[2] + left[0], "the client window covers the server window"
    assert right[2] + right[0] == width, "the client window is not at the right edge"
    assert left[1] == right[1] == height


def test_the_minimum_size_wins_over_half_a_small_screen() -> None:
    # xvfb-run's default screen is 640x480: halves would be narrower than a window can be.
    assert geometry_for("server", (640, 480), minimum=MINIMUM) == "460x480+0+0"
    assert geometry_for("client", (640, 480), minimum=MINIMUM) == "460x480+180+0"
    assert geometry_for("client", (400, 200), minimum=MINIMUM) == "460x300+0+0"


def test_a_requested_size_keeps_the_side_of_the_role() -> None:
    assert geometry_for("server", (1280, 720), "500x400") == "500x400+0+0"
    assert geometry_for("client", (1280, 720), "500x400") == "500x400+780+0"


def test_a_requested_position_is_kept_as_given() -> None:
    assert geometry_for("client", (1280, 720), "+10+20") == "640x720+10+20"
    assert geometry_for("server", (1280, 720), "300x200-0-0") == "300x200-0-0"
    assert geometry_for("client", (1280, 720), "=300x200+-5+7") == "300x200+-5+7"


@pytest.mark.parametrize("text", ["640x480+0+0", "640x480", "+0+0", "-0+0", "=1x1-1-1"])
def test_tk_geometries_are_accepted(text: str) -> None:
    assert geometry(text) == text.lstrip("=")


@pytest.mark.parametrize("text", ["", "640", "640x", "x480", "+0", "640x480+0", "big", "1x1+a+b"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a geometry like 640x480\\+0\\+0"):
        geometry(text)


def test_the_command_line_takes_geometry_for_both_windows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["server", "--geometry", "640x720+0+0"]).geometry == "640x720+0+0"
    assert parser.parse_args(["client", "--geometry", "+640+0"]).geometry == "+640+0"
    assert parser.parse_args(["client"]).geometry is None
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["client", "--geometry", "huge"])
    assert exited.value.code == 2
    assert "--geometry: invalid geometry value: 'huge'" in capsys.readouterr().err
