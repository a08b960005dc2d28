"""The client's side of sessions against a scripted server: what it sends, and when.

The server here is a plain listening socket driven line by line by the test
(the replies of docs/protocol.md, "Sessions"), so each case decides exactly
what reached the room before a connection dropped: the in-flight line whose
echo never came is sent again after the resume, exactly once; the one whose
echo is in the replay is not; lines typed while disconnected are held, shown
as held, and sent after the replay, not before.
"""

from __future__ import annotations

import queue
import socket
from collections.abc import Iterator

import pytest

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.session import Session

TIMEOUT = 10.0


class ScriptedServer:
    """Accepts connections one at a time; the test reads and writes lines on each."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[:2]
        self.listener.settimeout(TIMEOUT)
        self.conn: socket.socket | None = None
        self.reader: socket.SocketIO | None = None
        self._buffer = b""

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(TIMEOUT)
        self._buffer = b""

    def read_line(self) -> str:
        assert self.conn is not None
        while b"\n" not in self._buffer:
            data = self.conn.recv(4096)
            if not data:
                raise EOFError("the client hung up")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def say(self, *lines: str) -> None:
        assert self.conn is not None
        self.conn.sendall("".join(line + "\n" for line in lines).encode())

    def drop(self) -> None:
        """Reset the connection, as a cut cable would look to the client."""
        assert self.conn is not None
        self.conn.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.conn.close()
        self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


class Watcher:
    """The events of one client, to wait on."""

    def __init__(self, client: ChatClient) -> None:
        self.events: queue.Queue[events.Event] = queue.Queue()
        client.add_observer(self.events.put)

    def wait_for(self, kind: type, timeout: float = TIMEOUT) -> events.Event:
        while True:
            event = self.events.get(timeout=timeout)
            if isinstance(event, kind):
                return event


def welcome_new(server: ScriptedServer, position: int = 0) -> None:
    server.say(
        "~* welcome, you are Eve; type /help for the commands",
        f"~* session tok1 in log1 at {position}",
    )


def connect(server: ScriptedServer, session: Session) -> tuple[ChatClient, Watcher]:
    client = ChatClient(*server.address, nick="Eve")
    client.use_session(session)
    watcher = Watcher(client)
    client.connect()
    server.accept()
    return client, watcher


def test_a_new_session_says_hello_and_counts_only_log_lines(server: ScriptedServer) -> None:
    session = Session(nick="Eve")
    client, watcher = connect(server, session)
    try:
        assert server.read_line() == "/hello Eve"
        welcome_new(server, 5)
        server.say("~* history: the last 1 lines", "Bob: old", "~* end of history", "* Eve joined")
        assert watcher.wait_for(events.Notice) == events.Notice(
            "welcome, you are Eve; type /help for the commands"
        )
        # The session notice is not shown: its token is a secret.
        assert watcher.wait_for(events.Notice) == events.Notice(
            "history: the last 1 lines", history=True
        )
        history = watcher.wait_for(events.Message)
        assert history == events.Message("Bob", "old", history=True)
        server.say("~* online: Eve, Bob", "Bob: new")
        assert watcher.wait_for(events.Message) == events.Message("Bob", "new")
        assert session.position == 8  # 5, then Bob: old, * Eve joined, Bob: new
        assert client.nick == "Eve"
    finally:
        client.close()


@pytest.mark.parametrize("echoed", [False, True])
def test_a_line_in_flight_at_the_drop_arrives_exactly_once(
    server: ScriptedServer, echoed: bool
) -> None:
    session = Session(nick="Eve")
    first, watcher = connect(server, session)
    assert server.read_line() == "/hello Eve"
    welcome_new(server)
    watcher.wait_for(events.Notice)
    server.say("~* online: Eve")  # a reply after the session notice: that one is taken
    watcher.wait_for(events.Notice)
    assert session.token == "tok1"
    assert first.send("in flight")
    assert server.read_line() == "in flight"  # the room has it; its echo never comes back
    server.drop()
    watcher.wait_for(events.Disconnected)
    assert first.send("typed while away") is False  # held, not refused
    first.close()

    second, watcher = connect(server, session)
    try:
        assert server.read_line() == "/resume log1 0 Eve tok1"
        replay = ["Bob: hi", "Eve: in flight"] if echoed else ["Bob: hi"]
        server.say(
            f"~* welcome back, you are Eve; {len(replay)} lines you missed follow",
            "~* session tok1 in log1 at 0",
            *replay,
        )
        resumed = watcher.wait_for(events.Resumed)
        assert resumed == events.Resumed("Eve", len(replay))
        expected = ["typed while away"] if echoed else ["in flight", "typed while away"]
        assert [server.read_line() for _ in expected] == expected
        assert second.send("live")
        assert server.read_line() == "live"  # nothing else came before it
        assert session.position == len(replay)
    finally:
        second.close()


def test_lines_typed_during_the_replay_wait_for_its_end(server: ScriptedServer) -> None:
    session = Session(nick="Eve", token="tok1", log_id="log1", position=3)
    session.sent("unacked")
    client, watcher = connect(server, session)
    try:
        assert server.read_line() == "/resume log1 3 Eve tok1"
        server.say("~* welcome back, you are Eve; 2 lines you missed follow")
        server.say("~* session tok1 in log1 at 3", "Bob: one")
        watcher.wait_for(events.Message)
        assert client.send("during the replay") is False
        server.say("Bob: two")
        watcher.wait_for(events.Resumed)
        assert [server.read_line() for _ in range(2)] == ["unacked", "during the replay"]
    finally:
        client.close()


@pytest.mark.parametrize("echoed", [False, True])
def test_a_trimmed_resume_waits_for_the_kept_lines_before_sending_again(
    server: ScriptedServer, echoed: bool
) -> None:
    """Lines were lost (said), but the echo of ours may be among those kept: never doubled."""
    session = Session(nick="Eve", token="tok1", log_id="log1", position=3)
    session.sent("unacked")
    client, watcher = connect(server, session)
    try:
        assert server.read_line() == "/resume log1 3 Eve tok1"
        kept = ["Bob: one", "Eve: unacked"] if echoed else ["Bob: one", "Bob: two"]
        server.say(
            "~* welcome back, you are Eve; 40 lines you missed are no longer kept, 2 follow",
            "~* session tok1 in log1 at 43",
            *kept,
        )
        assert watcher.wait_for(events.Resumed) == events.Resumed("Eve", None)
        assert client.send("live")
        expected = ["live"] if echoed else ["unacked", "live"]
        assert [server.read_line() for _ in expected] == expected
        assert session.position == 45
    finally:
        client.close()


def test_a_reset_history_is_said_and_the_unacknowledged_sent_again(
    server: ScriptedServer,
) -> None:
    session = Session(nick="Eve", token="tok1", log_id="log1", position=3)
    session.sent("unacked")
    client, watcher = connect(server, session)
    try:
        assert server.read_line() == "/resume log1 3 Eve tok1"
        reset = (
            "~* welcome back, you are Eve; the server's history was reset: "
            "what was said while you were away is lost"
        )
        server.say(reset, "~* session tok2 in log2 at 0")
        notice = watcher.wait_for(events.Notice)
        assert "tok2" not in str(notice)
        assert isinstance(notice, events.Notice)
        assert "history was reset" in notice.text
        assert watcher.wait_for(events.Resumed) == events.Resumed("Eve", None)
        assert server.read_line() == "unacked"
        assert (session.log_id, session.token, session.position) == ("log2", "tok2", 0)
    finally:
        client.close()


def test_held_lines_are_bounded_at_the_limit_with_a_message(server: ScriptedServer) -> None:
    session = Session(nick="Eve")
    first, watcher = connect(server, session)
    assert server.read_line() == "/hello Eve"
    welcome_new(server)
    server.drop()
    watcher.wait_for(events.Disconnected)
    for number in range(Session.max_pending_lines):
        assert first.send(f"line {number}") is False
    with pytest.raises(ChatError, match="100 lines are already waiting"):
        first.send("one too many")
    first.close()
    client, _ = connect(server, session)
    try:
        assert server.read_line() == "/resume log1 0 Eve tok1"
        server.say("~* welcome back, you are Eve; 0 lines you missed follow")
        server.say("~* session tok1 in log1 at 0")
        received = [server.read_line() for _ in range(Session.max_pending_lines)]
        assert received == [f"line {number}" for number in range(Session.max_pending_lines)]
    finally:
        client.close()


def test_a_client_without_a_kept_session_refuses_lines_once_lost(server: ScriptedServer) -> None:
    client = ChatClient(*server.address, nick="Eve")
    watcher = Watcher(client)
    client.connect()
    server.accept()
    assert server.read_line() == "/hello Eve"
    assert client.send("straight out")  # a new session has no replay to wait for
    assert server.read_line() == "straight out"
    server.drop()
    watcher.wait_for(events.Disconnected)
    with pytest.raises(ChatError, match="not connected"):
        client.send("nobody will resume this")
    client.close()


def test_a_server_without_sessions_lets_lines_through(server: ScriptedServer) -> None:
    session = Session(nick="Eve")
    client, watcher = connect(server, session)
    try:
        server.read_line()
        server.say("* welcome, you are Client1; type /help for the commands")
        watcher.wait_for(events.Notice)
        assert client.send("plain")
        assert server.read_line() == "plain"
    finally:
        client.close()
