"""Sessions under random drops, resumes, grace expiries, trims and restarts (issue 11).

The machine plays the server's part without sockets, as the other state
machine here does: the room (:class:`tcpchat.room.ChatRoom`, with a grace
for dropped sessions) and the log (:class:`tcpchat.filelog.FileLog`, so a
restart keeps the lines and their positions; a restart "without a store"
starts a new log with a new log id).  Connected session clients receive each
broadcast at once and count their position; a resume replays
``log.read(position)`` (or says what was trimmed, or that the log is
another).  After every step:

* every client saw the log's lines from where its view began, each once, in
  the log's one order (no gap unless a trim or a reset was said);
* the log holds every chat line said since the log began, once, in order;
* nicknames are unique among the online and the held-for-a-session names.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from tcpchat import nicks, protocol
from tcpchat.filelog import FileLog
from tcpchat.reservations import new_token
from tcpchat.room import Action, Broadcast, ChatRoom, Close

NICKS = st.sampled_from(["Eve", "eve", "Budi", "Client", "Client2", "", "*bad"])
TEXT = st.sampled_from(["hi", "hello there", "x" * 5000, "//slash", "/who"])
GRACE = 5.0


@dataclass
class Client:
    token: str
    nick: str
    log_id: str
    position: int
    start: int  # where its unbroken view of the log began
    seen: list[str] = field(default_factory=list)  # the log lines it received, in order
    connection: int | None = None


class Sessions(RuleBasedStateMachine):
    clients = Bundle("clients")

    @initialize()
    def start(self) -> None:
        self.dirs = [tempfile.mkdtemp(prefix="tcpchat-fuzz-")]
        self.log = FileLog(self.dirs[-1], keep_lines=50, segment_bytes=512)
        self.room = ChatRoom(resume_grace=GRACE)
        self.now = 0.0
        self.lines: list[str] = []  # every line of the log since it began: position - 1
        self.said: list[str] = []  # the chat lines said, as the log must hold them
        self.by_connection: dict[int, Client] = {}
        self.next_id = 0

    def teardown(self) -> None:
        self.log.close()
        for directory in self.dirs:
            shutil.rmtree(directory, ignore_errors=True)

    # -- the server's part ---------------------------------------------------

    def apply(self, actions: list[Action]) -> None:
        lines = [action.line for action in actions if isinstance(action, Broadcast)]
        for action in actions:
            if isinstance(action, Close) and action.connection in self.by_connection:
                old = self.by_connection.pop(action.connection)  # type: ignore[arg-type]
                if old.connection == action.connection:
                    old.connection = None
        if not lines:
            return
        self.log.append([protocol.encode_line(line) for line in lines])
        self.lines += lines
        for client in self.by_connection.values():
            client.seen += lines
            client.position += len(lines)

    def connection(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- rules -----------------------------------------------------------------

    @rule(target=clients, nick=NICKS)
    def hello(self, nick: str) -> Client:
        connection, token = self.connection(), new_token()
        end = self.log.end
        client = Client(token, nick, self.log.log_id, end, end, connection=connection)
        self.by_connection[connection] = client
        actions = self.room.connect(connection, "", nick, token)
        client.nick = self.room.nick_of(connection)
        self.apply(actions)
        return client

    @rule(client=clients, text=TEXT)
    def say(self, client: Client, text: str) -> None:
        if client.connection is None:
            return
        nick = self.room.nick_of(client.connection)
        command = protocol.parse_command(text)
        if isinstance(command, protocol.Chat):
            self.said += [protocol.format_chat(nick, p) for p in protocol.split_text(command.text)]
        self.apply(self.room.receive(client.connection, text))

    @rule(client=clients, how=st.sampled_from(["reset", "quit"]))
    def drop(self, client: Client, how: str) -> None:
        if client.connection is None:
            return
        connection, client.connection = client.connection, None
        del self.by_connection[connection]
        now = self.now if how == "reset" else None
        self.apply(self.room.disconnect(connection, how, now))

    @rule(client=clients)
    def resume(self, client: Client) -> None:
        # A client still connected: the server has not noticed its drop, and the
        # old connection is replaced (closed silently) by the room's Close.
        connection = self.connection()
        nick, actions = self.room.resume(connection, "", client.nick, client.token)
        client.nick, client.connection = nick, connection
        log = self.log
        if client.log_id != log.log_id or client.position > log.end:
            client.log_id, client.position = log.log_id, log.end
            client.start, client.seen = log.end, []  # said: the history was reset
        elif client.position < log.oldest:
            client.position = client.start = log.oldest  # said: this many were trimmed
            client.seen = []
        replay = b"".join(log.read(client.position)).decode().splitlines()
        client.seen += replay
        client.position += len(replay)
        assert client.position == log.end
        self.by_connection[connection] = client
        self.apply(actions)

    @rule(seconds=st.sampled_from([0.5, GRACE, GRACE * 2]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.apply(self.room.expire(self.now))

    @rule()
    def trim(self) -> None:
        needed = [client.position for client in self.by_connection.values()]
        self.log.trim(needed or [self.log.end])

    @rule(store=st.booleans())
    def restart(self, store: bool) -> None:
        """The server crashes and starts again, on the same store or on a new log."""
        self.log.close()
        if not store:
            self.dirs.append(tempfile.mkdtemp(prefix="tcpchat-fuzz-"))
            self.lines, self.said = [], []
        self.log = FileLog(self.dirs[-1], keep_lines=50, segment_bytes=512)
        self.room = ChatRoom(resume_grace=GRACE)
        for client in self.by_connection.values():
            client.connection = None
        self.by_connection = {}

    # -- invariants ------------------------------------------------------------

    @invariant()
    def every_client_saw_the_log_once_in_order(self) -> None:
        for client in {id(c): c for c in self.by_connection.values()}.values():
            if client.log_id == self.log.log_id:
                assert client.seen == self.lines[client.start : client.position]

    @invariant()
    def the_log_holds_every_chat_line_once_in_order(self) -> None:
        chat = [line for line in self.lines if not line.startswith(protocol.NOTICE_PREFIX)]
        assert chat == self.said
        assert self.log.end == len(self.lines)

    @invariant()
    def names_are_unique_among_the_online_and_the_held(self) -> None:
        names = [*self.room.nicks(), *self.room.reservations.nicks()]
        assert len({nicks.skeleton(name) for name in names}) == len(names)


Sessions.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_sessions = Sessions.TestCase
