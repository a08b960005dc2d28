"""The room and the framing together, driven by hypothesis through random interleavings.

The machine plays the server's part without sockets: each connection has its
own :class:`LineBuffer`, bytes arrive in arbitrary chunks (lines split
anywhere, several lines at once, partial lines cut off by a reset), and the
room's actions are carried out the way :mod:`tcpchat.server` does (one
broadcast log, replies per connection, closes).  After every step:

* nicknames are unique (ignoring case), the operator's included;
* everyone who connected and has not left is in the room, and nobody else;
* every chat line a member completed is in the log exactly once, in the
  order it was sent, under the name the sender had at that moment; nothing
  that was not completed (a line cut off by a reset) ever appears;
* no line in the log holds a newline or a control character;
* nothing is ever sent to a connection after it was closed.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from tcpchat import protocol
from tcpchat.room import Broadcast, ChatRoom, Close, Reply

WORDS = st.sampled_from(
    ["hi", "Budi", "budi", "/nick", "/NICK", "/who", "/help", "/quit", "/pass x", "//x",
     "/bogus", " ", "\t", "caf\u00e9", "\x1b[2J", "\x00", "Server", "Client2", "a:b", "*x"]
)  # fmt: skip
TEXT = st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=4).map(" ".join)


class RoomAndFraming(RuleBasedStateMachine):
    connections = Bundle("connections")

    @initialize()
    def start(self) -> None:
        self.room = ChatRoom()
        self.buffers: dict[int, protocol.LineBuffer] = {}
        self.log: list[str] = []
        self.expected: list[str] = []  # the chat lines the log must hold, in order
        self.closed: set[int] = set()
        self.sent_after_close: list[str] = []
        self.next_id = 0

    # -- carrying out actions, as the server does -------------------------

    def apply(self, actions: list[object]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self.log.append(action.line)
            elif isinstance(action, Reply):
                if action.connection in self.closed:
                    self.sent_after_close.append(action.line)
            elif isinstance(action, Close):
                assert isinstance(action.connection, int)
                self.closed.add(action.connection)

    def deliver(self, connection: int, data: bytes) -> None:
        """Bytes arrive from *connection*: frame them, then hand each line to the room."""
        for frame in self.buffers[connection].feed(data):
            if connection not in self.room:
                return  # it quit earlier in this same chunk
            if isinstance(frame, protocol.Line):
                command = protocol.parse_command(frame.text)
                if isinstance(command, protocol.Chat):
                    nick = self.room.nick_of(connection)
                    self.expected.append(protocol.format_chat(nick, command.text))
                self.apply(self.room.receive(connection, frame.text))

    # -- rules ---------------------------------------------------------------

    @rule(target=connections)
    def connect(self) -> int:
        connection = self.next_id
        self.next_id += 1
        self.buffers[connection] = protocol.LineBuffer(max_line_bytes=64)
        self.apply(self.room.connect(connection))
        return connection

    @rule(connection=connections, text=TEXT, end=st.sampled_from(["\n", "\r\n", ""]))
    def type_a_line(self, connection: int, text: str, end: str) -> None:
        if connection in self.room:
            self.deliver(connection, (text + end).encode())

    @rule(connection=connections, data=st.binary(max_size=80), cut=st.integers(0, 80))
    def raw_bytes_in_two_chunks(self, connection: int, data: bytes, cut: int) -> None:
        if connection in self.room:
            self.deliver(connection, data[:cut])
            self.deliver(connection, data[cut:])

    @rule(connection=connections, name=st.one_of(WORDS, st.text(max_size=40)))
    def rename(self, connection: int, name: str) -> None:
        if connection in self.room:
            self.deliver(connection, f"/nick {name}\n".encode("utf-8", "replace"))

    @rule(connection=consumes(connections), how=st.sampled_from(["quit", "reset", "closed"]))
    def leave(self, connection: int, how: str) -> None:
        if how == "quit" and connection in self.room:
            self.deliver(connection, b"/quit\n")
        # A reset throws away whatever unfinished line the buffer held.
        self.apply(self.room.disconnect(connection, how))
        self.closed.add(connection)

    @rule(text=TEXT)
    def operator_says(self, text: str) -> None:
        actions = self.room.operator_says(text)
        if actions:
            self.expected.append(protocol.format_chat(self.room.operator_nick, actions[0].text))  # type: ignore[union-attr]
        self.apply(actions)

    # -- invariants --------------------------------------------------------------

    @invariant()
    def nicknames_are_unique_ignoring_case(self) -> None:
        folded = [nick.casefold() for nick in self.room.nicks()]
        assert len(folded) == len(set(folded))
        assert self.room.nicks()[0] == self.room.operator_nick

    @invariant()
    def the_room_holds_exactly_the_open_connections(self) -> None:
        members = {c for c in self.buffers if c in self.room}
        assert members == set(self.buffers) - self.closed

    @invariant()
    def every_completed_chat_line_is_in_the_log_once_in_order(self) -> None:
        chat = [line for line in self.log if not line.startswith(protocol.NOTICE_PREFIX)]
        assert chat == self.expected

    @invariant()
    def no_line_carries_a_newline_or_a_control_character(self) -> None:
        for line in self.log:
            assert line == protocol.neutralise(line)
            assert "\n" not in line

    @invariant()
    def nothing_is_sent_to_a_closed_connection(self) -> None:
        assert self.sent_after_close == []


RoomAndFraming.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_room_and_framing = RoomAndFraming.TestCase
