"""Several servers, one room, one order (issue 12), with real processes and a real Redis.

Three ``tcpchat server --store redis://… --room ROOM --nick ServerN --lease 3`` processes,
on 127.0.0.2, .3 and .4, share one ``redis-server`` (pytest-redis's process fixture, on a
loopback address, no persistence: one per test module and xdist worker; each test keeps to a
room of its own).  The clients are raw sockets (``/hello`` sessions, whose own lines start
with ``~``, so every other line they get is a line of the room's log) and the terminal client.

* Concurrent bursts from senders on every server, with a join and a quit in the middle:
  every client's transcript is the same, line for line.
* A nickname held on one server is refused on the others, default names included; ``/who``
  on any server lists everyone (its own operator first, its own clients next).  A server
  whose operator nick another server of the room has stops with one line and exit 2.
* A server started later serves the room's history, at the room's global positions.
* Each server's operator is a member of the room: its ``/who`` lists everyone and its
  terminal shows the room's chat in the room's order.

The failures (a server killed, Redis stopped) are in test_cluster_faults.py.  (Not named
test_cluster.py: tests/docker has one, and test modules share one namespace here.)
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from cluster_harness import (
    REDIS_E2E,
    REDIS_HOST,
    REDIS_SERVER,
    SERVER_HOSTS,
    TIMEOUT,
    Cluster,
    Member,
    Start,
    chat,
    free_port,
    online,
    since,
    start_client,
    stop_all_without_a_traceback,
    wait_for_all,
)
from harness import RawPeer, assert_one_total_order, run_concurrently
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor

from tcpchat import protocol

pytestmark = REDIS_E2E

cluster_redis = factories.redis_proc(executable=REDIS_SERVER, host=REDIS_HOST, port=None, save='""')
BURST = 100
"""Lines each sender sends in the burst."""


@pytest.fixture
def cluster(
    cluster_redis: RedisExecutor, start_process: Start, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    yield Cluster(start_process, f"redis://{cluster_redis.host}:{cluster_redis.port}/0")
    stop_all_without_a_traceback(request)


def test_bursts_from_every_server_reach_every_client_in_one_order(
    cluster: Cluster, start_process: Start
) -> None:
    a, b, c = cluster.start_three()
    senders = {
        "Ann": Member.join(a.address, "Ann"),
        "Ben": Member.join(b.address, "Ben"),
        "Cid": Member.join(c.address, "Cid"),
    }
    dot = Member.join(a.address, "Dot")  # quits in the middle of the bursts
    listeners = [Member.join(b.address, "Eli"), Member.join(c.address, "Flo")]
    gil = start_client(start_process, "Gil", [b])  # the terminal client sends too
    everyone = [*senders.values(), dot, *listeners]
    for member in everyone:
        member.wait_for(r"^\* Gil joined$")  # the last to join: everyone is in
    senders["Ann"].send_line("go")
    for member in senders.values():
        member.wait_for("^Ann: go$")  # so every burst comes after it
    gil.out.wait_for("^Ann: go$", TIMEOUT)
    numbers = [str(number) for number in range(BURST)]
    later: list[Member] = []

    def burst(member: Member) -> None:
        for text in numbers:
            member.send_line(text)

    def typed() -> None:
        for text in numbers:
            gil.send_line(text)

    def join_in_the_middle() -> None:
        listeners[0].wait_for(f"^Ann: {BURST // 5}$")  # not Dot: she may be gone by then
        later.append(Member.join(a.address, "Hoa"))

    def quit_in_the_middle() -> None:
        dot.wait_for(f"^Ben: {BURST // 2}$")
        dot.send_line("/quit")

    run_concurrently(
        *(lambda member=member: burst(member) for member in senders.values()),
        typed,
        join_in_the_middle,
        quit_in_the_middle,
    )
    hoa = later[0]
    last = [f"{nick}: {BURST - 1}" for nick in ("Ann", "Ben", "Cid", "Gil")]
    for member in [*senders.values(), *listeners]:
        member.wait_for_all([*last, "* Hoa joined", "* Dot left (quit)"])
    wait_for_all(gil, [*last, "* Hoa joined", "* Dot left (quit)"])

    transcripts = [since(member.log(), "Ann: go") for member in [*senders.values(), *listeners]]
    per_sender = {"Ann": ["go", *numbers], "Ben": numbers, "Cid": numbers, "Gil": numbers}
    assert_one_total_order(transcripts, per_sender)
    first = transcripts[0]
    assert len(first) == 1 + 4 * BURST + 2  # go, the bursts, one join and one leave
    assert first.count("* Hoa joined") == 1
    assert first.count("* Dot left (quit)") == 1
    hoa.wait_for(f"^{re.escape(first[-1])}$")  # the last line, after Hoa's join (or that)
    assert since(hoa.log(), "* Hoa joined") == since(first, "* Hoa joined")
    dots = since(dot.log(), "Ann: go")
    assert dots == first[: len(dots)], "Dot's transcript is not the start of everyone's"
    assert chat(since(gil.out.lines, "Ann: go")) == chat(first)


def test_a_nick_held_on_one_server_is_refused_on_the_others_and_who_lists_everyone(
    cluster: Cluster, start_process: Start
) -> None:
    a, b, c = cluster.start_three()
    alice = Member.join(a.address, "Alice")
    # /hello with a nick held on another server: a default name and the refusal
    other = Member(*b.address)
    other.send_line("/hello alice")
    welcome = protocol.WELCOME.parse(other.expect_line(r"^~\* welcome, ").removeprefix("~* "))
    assert welcome is not None
    refused = protocol.NICK_REFUSED.parse(other.expect_line(r"^~\* error: ").removeprefix("~* "))
    assert refused is not None, other.lines
    assert refused["nick"] == welcome["nick"]
    assert welcome["nick"].casefold() != "alice"
    # /nick to a nick held on another server, whatever its case
    carl = Member.plain(c.address, "Carl")
    for taken in ("Alice", "alice"):
        carl.send_line(f"/nick {taken}")
        line = carl.expect_line(r"^\* error: ")
        refusal = protocol.NICK_REFUSED.parse(line.removeprefix("* "))
        assert refusal is not None, line
        assert refusal["nick"] == "Carl", line
    bob = Member.join(b.address, "Bob")
    # connections that never name themselves get default names unique in the room
    plains = [RawPeer(*node.address) for node in (a, b, c)]
    defaults = []
    for peer in plains:
        found = protocol.WELCOME.parse(peer.expect_line(r"^\* welcome, ").removeprefix("* "))
        assert found is not None
        defaults.append(found["nick"])
    named = ["Alice", "Bob", "Carl", welcome["nick"]]
    assert len({nick.casefold() for nick in [*named, *defaults]}) == len(named) + 3, defaults
    alice.send_line("sync")  # after every join and rename
    for member in (alice, bob, carl):
        member.wait_for("^Alice: sync$")

    operators = ["Server1", "Server2", "Server3"]
    local = {
        "Server1": {"Alice", defaults[0]},
        "Server2": {"Bob", welcome["nick"], defaults[1]},
        "Server3": {"Carl", defaults[2]},
    }
    for asker, node in ((alice, a), (bob, b), (carl, c)):
        asker.send_line("/who")
        names = online(asker.expect_line(r"^~?\* online: "))
        assert sorted(names) == sorted([*operators, *named, *defaults]), (node.nick, names)
        assert names[0] == node.nick, names  # this server's operator first
        here = local[node.nick]
        assert set(names[1 : 1 + len(here)]) == here, names  # then this server's clients


def test_a_server_whose_operator_nick_is_in_the_room_stops_with_one_line_and_exit_2(
    cluster: Cluster, start_process: Start
) -> None:
    cluster.start(SERVER_HOSTS[1], "Server2")
    host = SERVER_HOSTS[0]
    args = ["server", "--headless", "--host", host, "--port", str(free_port(host))]
    room = ["--store", cluster.redis_url, "--room", cluster.room, "--lease", "3"]
    twin = start_process([*args, *room, "--nick", "server2"], name="twin")
    assert twin.wait(TIMEOUT) == 2
    assert "listening" not in twin.stdout
    assert re.fullmatch(
        rf"tcpchat: the operator nick 'server2' is taken in room '{cluster.room}' "
        r"by server \S.*: give this server's operator another --nick",
        twin.stderr.strip(),
    ), twin.stderr


def test_a_server_started_later_serves_the_rooms_history(cluster: Cluster) -> None:
    a = cluster.start(SERVER_HOSTS[0], "Server1")
    b = cluster.start(SERVER_HOSTS[1], "Server2")
    wes = Member.join(a.address, "Wes")
    ann, ben = Member.join(a.address, "Ann"), Member.join(b.address, "Ben")
    for number in range(8):
        ann.send_line(f"a{number}")
        ben.send_line(f"b{number}")
    wes.wait_for_all(["Ann: a7", "Ben: b7"])
    so_far = wes.now()

    c = cluster.start(SERVER_HOSTS[2], "Server3", "--history", "10")
    found = c.room_line()
    assert found is not None, c.process.stdout
    assert found.groups() == (cluster.room, cluster.redis_url, str(so_far))
    zed = Member.join(c.address, "Zed")
    assert zed.log_id == wes.log_id  # one log for the room, whichever server
    wes.wait_for(r"^\* Zed joined$")
    log = wes.log()
    at = log.index("* Zed joined")
    assert zed.position + 10 == wes.position + at  # positions are the room's
    assert zed.lines[2:] == [
        "~* history: the last 10 lines",
        *log[at - 10 : at],
        "~* end of history",
        "* Zed joined",
    ]
    ann.send_line("hello Zed")  # and it goes on live, across servers
    zed.wait_for("^Ann: hello Zed$")
    zed.send_line("hi")
    for member in (wes, ann, ben):
        member.wait_for("^Zed: hi$")


def test_every_servers_operator_is_in_the_room_sees_its_order_and_everyone(
    cluster: Cluster,
) -> None:
    """The operators are members too (they chat to the room and are in its ``/who``): each
    one's ``/who`` lists everyone, and its terminal shows the room's chat in the room's order."""
    nodes = cluster.start_three()
    nicks = ("Ann", "Ben", "Cid")
    members = [Member.join(node.address, nick) for node, nick in zip(nodes, nicks, strict=True)]
    for member in members:
        member.wait_for(r"^\* Cid joined$")
    everyone = sorted(["Server1", "Server2", "Server3", "Ann", "Ben", "Cid"])
    for node in nodes:
        node.process.send_line("/who")
        answer = node.process.wait_for_output(r"^(\[[\d:]+\] )?\* online: ").string
        names = online(re.sub(r"^\[[\d:]+\] ", "", answer))
        assert sorted(names) == everyone, (node.nick, names)
        assert names[0] == node.nick, names

    members[0].send_line("go")
    for member in members:
        member.wait_for("^Ann: go$")
    for number in range(5):
        for member, node in zip(members, nodes, strict=True):
            member.send_line(f"{number}")
            node.process.send_line(f"op{number}")
    last = [*(f"{nick}: 4" for nick in nicks), *(f"{node.nick}: op4" for node in nodes)]
    for member in members:
        member.wait_for_all(last)
    room = chat(since(members[0].log(), "Ann: go"))
    for node in nodes:
        for line in last:
            node.process.out.wait_for(rf"^(\[[\d:]+\] )?{re.escape(line)}$", TIMEOUT)
        console = [re.sub(r"^\[[\d:]+\] ", "", line) for line in node.process.out.lines]
        assert chat(since(console, "Ann: go")) == room, node.nick
