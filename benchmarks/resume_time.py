"""How long a resume takes: proxy cut -> the first live line after the replay.

An in-process :class:`ChatServer` on loopback; a talker (a raw socket)
says a numbered line every ``--interval`` seconds; a session client
(:class:`ChatClient` with a kept :class:`Session`) is connected through the
test suite's :class:`TcpProxy`.  Each round cuts the proxy, reconnects at
once (the front ends add their own back-off first: 1 s in the terminal
client and the window, ``tcpchat.runtime.RETRY_DELAYS``), and times from the
cut to the first line received after the replay (the client's ``Resumed``
event).  It also checks that the client saw every talker line exactly once.

    PYTHONPATH=. python3 -m benchmarks.resume_time [--cuts 20] [--interval 0.01]
"""

from __future__ import annotations

import argparse
import queue
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.server import ChatServer
from tcpchat.session import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tcp_proxy import TcpProxy  # type: ignore[import-not-found]


def talk(address: tuple[str, int], interval: float, stop: threading.Event) -> int:
    """Say ``tick N`` every *interval* seconds until *stop*; how many were said."""
    with socket.create_connection(address) as sock:
        sock.sendall(b"/nick Talker\n")
        number = 0
        while not stop.wait(interval):
            sock.sendall(f"tick {number}\n".encode())
            number += 1
        sock.sendall(b"/quit\n")
        return number


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument(
        "--away", type=float, default=0.0, help="seconds to wait before reconnecting (back-off)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    server = ChatServer("127.0.0.1", 0)
    server.start()
    proxy = TcpProxy(server.address[:2])
    session = Session(nick="Eve")
    inbox: queue.Queue[events.Event] = queue.Queue()
    seen: list[str] = []

    def connect() -> ChatClient:
        client = ChatClient(*proxy.address)
        client.use_session(session)
        client.add_observer(inbox.put)
        client.connect()
        return client

    def next_event(kind: type) -> events.Event:
        while True:
            event = inbox.get(timeout=30)
            if isinstance(event, events.Message) and event.nick == "Talker":
                seen.append(event.text)
            if isinstance(event, kind):
                return event

    client = connect()
    next_event(events.Notice)
    stop = threading.Event()
    said: list[int] = []
    talker = threading.Thread(
        target=lambda: said.append(talk(server.address[:2], args.interval, stop))
    )
    talker.start()
    timings: list[float] = []
    reconnects: list[float] = []
    missed: list[int] = []
    for _ in range(args.cuts):
        next_event(events.Message)  # live chat is flowing
        cut = time.perf_counter()
        proxy.cut()
        next_event(events.Disconnected)
        client.close()
        if args.away:
            stop.wait(args.away)
        again = time.perf_counter()
        client = connect()
        resumed = next_event(events.Resumed)
        reconnects.append(time.perf_counter() - again)
        next_event(events.Message)
        timings.append(time.perf_counter() - cut)
        assert isinstance(resumed, events.Resumed)
        missed.append(resumed.missed or 0)
    stop.set()
    talker.join()
    while sum(text.startswith("tick ") for text in seen) < said[0]:
        next_event(events.Message)
    client.close()
    proxy.close()
    server.stop()
    report(args, timings=timings, reconnects=reconnects, missed=missed, seen=seen, said=said[0])


def report(
    args: argparse.Namespace,
    *,
    timings: list[float],
    reconnects: list[float],
    missed: list[int],
    seen: list[str],
    said: int,
) -> None:
    ticks = [text for text in seen if text.startswith("tick ")]
    exact = ticks == [f"tick {number}" for number in range(said)]
    print(
        f"resume, proxy cut -> first live line after the replay, {args.cuts} cuts, "
        f"talker every {args.interval * 1000:g} ms: "
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms (away {args.away:g} s); reconnect -> resumed: "
        f"median {statistics.median(reconnects) * 1000:.1f} ms, "
        f"max {max(reconnects) * 1000:.1f} ms; lines replayed per resume: median "
        f"{statistics.median(missed):g}, max {max(missed)}; {said} talker lines, each seen "
        f"exactly once: {exact}"
    )


if __name__ == "__main__":
    main()
