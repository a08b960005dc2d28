"""Several ChatServers in this process serving one room on a real redis-server.

What the cluster wiring (tcpchat/server/cluster.py) must guarantee, checked
through real sockets: one order on every server, nicknames unique across
them, ``/who`` listing everyone, a session resuming on another server, a
dead server's members announced once, the operator's nick refused at start,
and Redis going away without a line lost.  The same with real processes and
SIGKILL is tests/e2e/test_cluster.py.
"""

from __future__ import annotations

import re
import threading
from typing import Iterator

import pytest
import redis
from harness import RawPeer, assert_one_total_order
from pytest_redis.executor import RedisExecutor
from redis_helpers import Paused, Start, cluster_starter, url_of, wait_until
from tcp_proxy import TcpProxy

from tcpchat import events
from tcpchat.errors import ChatError
from tcpchat.presence import Presence
from tcpchat.protocol import STORE_DOWN, STORE_UP
from tcpchat.server import ChatServer
from tcpchat.server.cluster import Cluster, RedisStore

SESSION = re.compile(r"^~\* session (\S+) in (\S+) at (\d+)$")


def hello(server: ChatServer, nick: str) -> RawPeer:
    peer = RawPeer(*server.address)
    peer.send_line(f"/hello {nick}")
    peer.expect_line(r"^~\* session ")
    return peer


def open_session(address: tuple[str, int], nick: str) -> tuple[RawPeer, tuple[str, ...]]:
    """A raw peer that said ``/hello NICK``; its session's token, log ID and position."""
    peer = RawPeer(*address)
    peer.send_line(f"/hello {nick}")
    session = SESSION.match(peer.expect_line(r"^~\* session "))
    assert session is not None
    return peer, session.groups()


def chat(peer: RawPeer) -> list[str]:
    return [line for line in peer.lines if not line.startswith(("~", "*"))]


def test_clients_of_two_servers_see_one_order(start: Start) -> None:
    first, second = start("Server1"), start("Server2")
    peers = [hello(first, "ann"), hello(first, "bea"), hello(second, "cy"), hello(second, "di")]
    per_sender = {p: [f"{n} {i}" for i in range(40)] for p, n in zip(peers, "abcd", strict=True)}

    def burst(peer: RawPeer) -> None:
        for text in per_sender[peer]:
            peer.send_line(text)

    threads = [threading.Thread(target=burst, args=(p,)) for p in peers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for peer in peers:
        wait_until(lambda peer=peer: len(chat(peer)) == 160)  # type: ignore[misc]
    transcripts = [chat(peer) for peer in peers]
    nicks = dict(zip(peers, ["ann", "bea", "cy", "di"], strict=True))
    assert_one_total_order(transcripts, {nicks[p]: texts for p, texts in per_sender.items()})


def test_a_nick_taken_on_one_server_is_refused_on_another_and_who_lists_everyone(
    start: Start,
) -> None:
    first, second = start("Server1"), start("Server2")
    ann = hello(first, "ann")
    hello(second, "bob")
    again = RawPeer(*second.address)
    again.send_line("/hello ANN")  # folded like every nick: the same name
    again.expect_line(r"ANN is already taken; you are still Client")
    ann.send_line("/nick Bob")
    ann.expect_line(r"Bob is already taken; you are still ann")
    ann.send_line("/who")
    online = ann.expect_line(r"^~\* online: ")
    names = online.removeprefix("~* online: ").split(", ")
    assert names[0] == "Server1"
    assert sorted(names) == sorted(["Server1", "ann", "Server2", "bob", "Client"])
    ann.send_line("/nick Ann")  # a respelling of its own name is no clash
    ann.expect_line(r"^\* ann is now Ann$")


def test_a_session_resumes_on_another_server_and_the_first_lets_it_go(
    start: Start,
) -> None:
    first, second = start("Server1"), start("Server2")
    told: list[events.Event] = []
    first.add_observer(told.append)
    with TcpProxy(first.address) as proxy:
        ann, (token, log_id, at) = open_session(proxy.address, "ann")
        bob = hello(second, "bob")
        ann.expect_line(r"^\* bob joined$")  # counted in what ann has seen, not missed
        ann.send_line("one")
        ann.expect_line(r"^ann: one$")
        seen = int(at) + len([line for line in ann.lines if not line.startswith("~")])
        proxy.cut()  # ann's link to the first server is gone; the server does not know yet
        bob.send_line("while ann was away")
        bob.expect_line(r"^bob: while ann was away$")
        back = RawPeer(*second.address)
        back.send_line(f"/resume {log_id} {seen} ann {token}")
        back.expect_line(r"^~\* welcome back, you are ann; 1 lines you missed follow$")
        back.expect_line(r"^bob: while ann was away$")
        back.send_line("two")
        bob.expect_line(r"^ann: two$")
        assert bob.lines.count("* ann joined") == 1  # once, before bob came (its history)
        # the first server learns at its next renewal that ann is elsewhere
        wait_until(lambda: any("on another server" in str(e) for e in told), timeout=20)
        assert first.nicks().count("ann") == 1  # now one of the other server's
        first.say("ann is elsewhere")  # shipped after the let-go: anything it said is in by then
        bob.expect_line(r"^Server1: ann is elsewhere$")
        assert not any("ann left" in line for line in bob.lines)
        bob.send_line("/who")
        names = bob.expect_line(r"^~\* online: ").removeprefix("~* online: ").split(", ")
        assert names.count("ann") == 1


def test_a_dead_servers_members_are_announced_once_when_their_lease_ends(
    start: Start, redis_url: str, room: str
) -> None:
    first, second = start("Server1", lease=1.0), start("Server2", lease=1.0)
    ann, bob = hello(first, "ann"), hello(second, "bob")
    dead = Presence.connect(redis_url, room, owner="dead-server", lease_seconds=0.5)
    assert dead.claim("zed")  # then never renewed, as by a server killed with SIGKILL
    for peer in (ann, bob):
        peer.expect_line(r"^\* zed left \(connection lost\)$", timeout=20)
    ann.send_line("marker")
    for peer in (ann, bob):
        peer.expect_line(r"^ann: marker$")
        left = [line for line in peer.lines if "zed left" in line]
        assert left == ["* zed left (connection lost)"]
    late = RawPeer(*second.address)
    late.send_line("/hello zed")
    late.expect_line(r"^~\* welcome, you are zed;")


def test_the_operators_nick_of_another_server_is_refused_at_start(
    start: Start, redis_url: str, room: str
) -> None:
    start("Boss")
    cluster = Cluster.connect(RedisStore(redis_url, room), history=0, say=print)
    server = ChatServer("127.0.0.1", 0, operator_nick="boss", cluster=cluster)
    with pytest.raises(ChatError, match=r"the operator nick 'boss' is taken in room"):
        server.start()


def test_a_server_started_later_shows_the_rooms_history(start: Start) -> None:
    first = start("Server1")
    ann = hello(first, "ann")
    for number in range(5):
        ann.send_line(f"line {number}")
    ann.expect_line(r"^ann: line 4$")
    later = start("Server2", history=3)
    newcomer = RawPeer(*later.address)
    newcomer.send_line("/hello cy")
    newcomer.expect_line(r"^~\* history: the last 3 lines$")
    for number in (2, 3, 4):
        newcomer.expect_line(rf"^ann: line {number}$")
    newcomer.expect_line(r"^~\* end of history$")


@pytest.fixture
def start_faulty(faulty_redis: RedisExecutor, room: str) -> Iterator[Start]:
    yield from cluster_starter(url_of(faulty_redis), room)


def test_redis_away_holds_lines_says_so_and_delivers_them_when_back(
    start_faulty: Start, pause_redis: Paused
) -> None:
    first, second = start_faulty("Server1"), start_faulty("Server2")
    ann, bob = hello(first, "ann"), hello(second, "bob")
    ann.send_line("before")
    bob.expect_line(r"^ann: before$")
    pause_redis.stop()
    sent = [f"held {number}" for number in range(20)]
    for text in sent:
        ann.send_line(text)
    down = STORE_DOWN.format(reason="").split("(")[0]
    for peer in (ann, bob):
        peer.expect_line(rf"^~\* {re.escape(down)}", timeout=30)
    pause_redis.resume()
    for peer in (ann, bob):
        peer.expect_line(rf"^~\* {re.escape(STORE_UP.format())}$", timeout=30)
        peer.expect_line(r"^ann: held 19$", timeout=30)
        assert chat(peer)[-20:] == [f"ann: {text}" for text in sent]
        assert chat(peer).count("ann: held 0") == 1


def test_a_server_stopped_for_a_restart_lets_its_sessions_go_on_elsewhere(start: Start) -> None:
    first, second = start("Server1"), start("Server2")
    ann, (token, log_id, at) = open_session(first.address, "ann")
    ann.expect_line(r"^\* ann joined$")  # shipped asynchronously: in the log before bob's join
    bob = hello(second, "bob")
    ann.expect_line(r"^\* bob joined$")  # all the room had before the first server stops
    first.stop()  # a rolling restart: the room goes on on the second server
    ann.expect_line(r"^~\* server shutting down$")
    ann.wait_closed()
    seen = int(at) + len([line for line in ann.lines if not line.startswith("~")])
    back = RawPeer(*second.address)
    back.send_line(f"/resume {log_id} {seen} ann {token}")
    back.expect_line(r"^~\* welcome back, you are ann; 0 lines you missed follow$")
    back.send_line("still here")
    bob.expect_line(r"^ann: still here$")
    assert not any("ann left" in line or "shutting down" in line for line in bob.lines)


def test_the_operator_hears_the_whole_room_once(start: Start) -> None:
    first, second = start("Server1"), start("Server2")
    heard: list[events.Event] = []
    first.add_observer(heard.append)
    ann, bob = hello(first, "ann"), hello(second, "bob")
    bob.send_line("from the second server")
    bob.expect_line(r"^bob: from the second server$")  # in the log before Server2 speaks
    ann.send_line("from the first")
    ann.expect_line(r"^ann: from the first$")
    second.say("the other operator")
    ann.expect_line(r"^Server2: the other operator$")
    wait_until(lambda: any(getattr(e, "nick", "") == "Server2" for e in heard))
    said = [(e.nick, e.text) for e in heard if isinstance(e, events.Message)]
    assert sorted(said) == sorted(
        [
            ("bob", "from the second server"),
            ("ann", "from the first"),
            ("Server2", "the other operator"),
        ]
    )
    assert [e.text for e in heard if isinstance(e, events.Notice)].count("bob joined") == 1


def test_a_name_whose_claim_vanished_is_claimed_again_not_let_go(
    start: Start, client: redis.Redis, room: str
) -> None:
    first = start("Server1", lease=1.0)
    ann = hello(first, "ann")
    key = f"tcpchat:{{{room}}}:nick:ann"
    client.delete(key)  # as if its lease had run out while the server could not renew it
    wait_until(lambda: client.exists(key))
    ann.send_line("still mine")
    ann.expect_line(r"^ann: still mine$")
    assert not any("another server" in line for line in ann.lines)


def test_a_server_whose_rooms_log_is_lost_says_so_and_stops(
    start: Start, client: redis.Redis
) -> None:
    first = start("Server1")
    stopped = threading.Event()
    first.add_observer(lambda event: stopped.set() if isinstance(event, events.Stopped) else None)
    ann = hello(first, "ann")
    ann.send_line("before")
    ann.expect_line(r"^ann: before$")
    client.flushall()  # Redis restarted empty: the log ID is gone
    ann.expect_line(r"the room's log at .* was lost .*: this server stops; restart the servers")
    ann.wait_closed()
    assert stopped.wait(30)
    assert first.failure is not None
    assert "this server stops" in first.failure
