"""Pacing, not discarding (issue 11; issue 15 item 11), real sockets, in-process server.

Over its rate a connection is slowed, not cut: the server stops reading from
it, so what it sends waits in its own buffers, and every line arrives, in
order, with one notice to the sender.  Every line counts, over-long ones and
those that only earn an error reply included.  ``limit_loopback=True`` makes
these loopback sockets stand for peers the limits apply to.
"""

from __future__ import annotations

import re
from typing import Callable

from harness import RawPeer, joined_peer

from tcpchat.guard import Limits
from tcpchat.server import ChatServer

SLOWED = r"^\* slow down: over "


def chat_from(peer: RawPeer, nick: str) -> list[str]:
    return [line.removeprefix(f"{nick}: ") for line in peer.lines if line.startswith(f"{nick}: ")]


def paste(count: int) -> bytes:
    return b"".join(b"paste %d\n" % n for n in range(count))


def test_a_500_line_paste_on_a_default_loopback_server_arrives_whole(
    serve: Callable[..., ChatServer],
) -> None:
    server = serve()  # default limits: loopback is exempt
    paster, witness = joined_peer(server.address), joined_peer(server.address)
    paster.send_bytes(paste(500))
    witness.expect_line(r"^Client: paste 499$")
    assert chat_from(witness, "Client") == [f"paste {n}" for n in range(500)]
    paster.expect_line(r"^Client: paste 499$")  # a notice would have come before it
    assert not any(re.match(SLOWED, line) for line in paster.lines)


def test_over_the_rate_a_paste_is_paced_whole_with_one_notice(
    serve: Callable[..., ChatServer],
) -> None:
    limits = Limits(lines_per_second=200, burst_lines=100, limit_loopback=True)
    server = serve(limits=limits)
    paster, witness = joined_peer(server.address), joined_peer(server.address)
    paster.send_bytes(paste(500))
    witness.expect_line(r"^Client: paste 499$")
    assert chat_from(witness, "Client") == [f"paste {n}" for n in range(500)]
    paster.expect_line(r"^Client: paste 499$")  # still connected, hearing the room
    notices = [line for line in paster.lines if re.match(SLOWED, line)]
    assert notices == [
        "* slow down: over 200 lines a second from your address; "
        "your lines are held back and relayed at that rate, none is lost"
    ]
    # Never before the burst was spent (the bucket refills while the burst is handled, so
    # at this rate a few more lines may go first: the next test pins the exact moment).
    told = paster.lines.index(notices[0])
    assert "Client: paste 99" in paster.lines[:told]
    assert "Client: paste 499" not in paster.lines[:told]


def test_the_notice_comes_when_the_burst_is_spent(serve: Callable[..., ChatServer]) -> None:
    # At half a line a second the bucket would need two seconds handling the 100-line burst
    # to earn one more line (half a second, at 2 lines/s, is a stall a loaded machine can
    # have), so the first line over the burst is the one held back.
    limits = Limits(lines_per_second=0.5, burst_lines=100, limit_loopback=True)
    server = serve(limits=limits)
    paster, witness = joined_peer(server.address), joined_peer(server.address)
    paster.send_bytes(paste(101))
    paster.expect_line(r"^Client: paste 100$")
    told = paster.lines.index(next(line for line in paster.lines if re.match(SLOWED, line)))
    assert "Client: paste 99" in paster.lines[:told]
    assert "Client: paste 100" not in paster.lines[:told]
    witness.expect_line(r"^Client: paste 100$")


def test_a_slowed_sender_holds_up_no_one_else(serve: Callable[..., ChatServer]) -> None:
    limits = Limits(lines_per_second=2, burst_lines=10, limit_loopback=True)
    server = serve(limits=limits)
    paster, witness = joined_peer(server.address), joined_peer(server.address)
    paster.send_bytes(paste(14))
    paster.expect_line(SLOWED)  # the burst is out; four lines are held back
    witness.send_line("meanwhile")
    witness.expect_line(r"^Client2: meanwhile$")
    witness.expect_line(r"^Client: paste 13$")
    relayed = chat_from(witness, "Client")
    assert relayed == [f"paste {n}" for n in range(14)]
    # The witness's line went out while the paster's last lines were still held.
    order = [line for line in witness.lines if line.startswith(("Client: ", "Client2: "))]
    assert order.index("Client2: meanwhile") < order.index("Client: paste 13")


def test_over_long_lines_spend_the_budget_and_their_replies_are_paced(
    serve: Callable[..., ChatServer],
) -> None:
    # 1 line/s: no token is earned while the burst is handled (at 20/s, one every 50 ms)
    limits = Limits(lines_per_second=1, burst_lines=5, limit_loopback=True)
    server = serve(limits=limits, max_line_bytes=64)
    sender = joined_peer(server.address)
    sender.send_bytes((b"x" * 65 + b"\n") * 7)
    notice = sender.expect_line(SLOWED)
    told = sender.lines.index(notice)  # the paced replies come after it
    replies = [line for line in sender.lines[:told] if "line too long" in line]
    assert len(replies) == 5  # exactly the burst answered at once, not all 7
    for _ in range(2):
        sender.expect_line(r"^\* error: line too long")  # the rest, paced, none dropped
    assert sum("line too long" in line for line in sender.lines) == 7


def test_commands_and_error_replies_are_paced_too(serve: Callable[..., ChatServer]) -> None:
    limits = Limits(lines_per_second=1, burst_lines=5, limit_loopback=True)  # as above
    server = serve(limits=limits)
    sender = joined_peer(server.address)
    sender.send_bytes(b"/bogus\n" * 7)
    notice = sender.expect_line(SLOWED)
    told = sender.lines.index(notice)
    replies = [line for line in sender.lines[:told] if "unknown command" in line]
    assert len(replies) == 5
    for _ in range(2):
        sender.expect_line(r"^\* error: unknown command /bogus")
    assert sum("unknown command" in line for line in sender.lines) == 7


def test_stopping_the_server_ends_a_long_pacing_wait(serve: Callable[..., ChatServer]) -> None:
    limits = Limits(lines_per_second=0.001, burst_lines=1, limit_loopback=True)
    server = serve(limits=limits)
    sender = joined_peer(server.address)
    sender.send_bytes(paste(3))
    sender.expect_line(SLOWED)  # the second line waits 1000 s
    server.stop()  # returns: the pacing reader is cut short
    sender.wait_closed()
