"""A bounded soak of a real ``tcpchat server`` process: chat, churn and abuse, measured.

For the whole run, on loopback only:

* **idle** connections are held open (readers who never type);
* **chatters** stay connected and say a numbered line about twice a second,
  well under the flood limit;
* **passers-by** join, say one line and quit, about once a second;
* **misbehavers** arrive about three times a second, each doing one hostile
  thing (see :data:`MISDEEDS`) and vanishing.

Every second the server's RSS and thread count are sampled from ``/proc``.
At the end a last line from every chatter acts as a barrier, and the run
checks that every chatter received every well-behaved line, in one order
shared by all, and that the server is back to its starting threads.

    python tests/soak/soak.py --seconds 600          # ten minutes, on demand
    TCPCHAT_SOAK_SECONDS=600 pytest -m soak -p no:xdist tests/soak   # the same, as a test

Each connection comes from its own loopback source address (127.77.x.y), the
way clients on many machines would, and the server runs with ``--limit-loopback``,
so the per-address limits apply to each as to a peer on another machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for harness
from harness import ChatProcess, loopback_address, no_traceback
from misdeeds import EXPECTED_LEAVE, MISDEEDS, PORT, connect


def status(pid: int) -> tuple[int, int]:
    """(RSS in KiB, threads) of process *pid*."""
    text = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+)", text, re.MULTILINE)
    threads = re.search(r"^Threads:\s+(\d+)", text, re.MULTILINE)
    assert rss, text
    assert threads, text
    return int(rss.group(1)), int(threads.group(1))


class Listener:
    """A connection whose lines are read on a thread and kept."""

    def __init__(self, host: str) -> None:
        self.sock = connect(host)
        self.sock.settimeout(None)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError), self.sock.makefile("rb") as stream:
            for raw in stream:
                with self.changed:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    self.changed.notify_all()

    def wait_for(self, line: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: line in self.lines, timeout)

    def wait_for_ending(self, end: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: any(x.endswith(end) for x in self.lines), timeout)

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(15)


def leave_reasons(server_output: str) -> dict[str, str]:
    """{source address: the reason the server gave when that connection left}."""
    joined = re.compile(r"\* (\S+) joined from ([\d.]+):\d+$")
    left = re.compile(r"\* (\S+) left \((.*)\)$")
    source_of: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for line in server_output.splitlines():
        if match := joined.search(line):
            source_of[match.group(1)] = match.group(2)
        elif (match := left.search(line)) and match.group(1) in source_of:
            reasons[source_of.pop(match.group(1))] = match.group(2)
    return reasons


@dataclass
class Report:
    seconds: float
    idle: int
    chatters: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, RSS KiB, threads)
    misdeeds: dict[str, int] = field(default_factory=dict)  # kind -> reached the server
    unreached: dict[str, int] = field(default_factory=dict)  # refused, failed or never welcomed
    unhandled: dict[str, int] = field(default_factory=dict)  # the server's answer never came
    wrong_leave: dict[str, int] = field(default_factory=dict)  # recorded with another reason
    sources: dict[str, list[str]] = field(default_factory=dict)  # kind -> source addresses
    passers_by: int = 0
    chat_sent: int = 0
    chat_delivered: int = 0
    lost: int = 0
    out_of_order: int = 0
    start_threads: int = 0
    end_threads: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        rss = [kib for _, kib, _ in self.samples]
        threads = [count for _, _, count in self.samples]
        warm = rss[len(rss) // 10 :] or rss
        return {
            "seconds": round(self.seconds),
            "connections held (idle + chatters)": self.idle + self.chatters,
            "peak threads": max(threads, default=0),
            "chat lines sent (well-behaved)": self.chat_sent,
            "chat lines delivered (to every chatter)": self.chat_delivered,
            "delivered per second": round(self.chat_delivered / max(self.seconds, 1)),
            "lost": self.lost,
            "out of order": self.out_of_order,
            "passers-by": self.passers_by,
            "misbehaving connections that reached the server": sum(self.misdeeds.values()),
            "misdeeds (reached)": self.misdeeds,
            "misdeeds that never reached the server": self.unreached,
            "misdeeds the server did not answer as it should": self.unhandled,
            "misdeeds recorded with the wrong leave reason": self.wrong_leave,
            "RSS MiB start / peak / end": [round(x / 1024, 1) for x in (rss[0], max(rss), rss[-1])]
            if rss
            else [],
            "RSS growth after warm-up MiB": round((warm[-1] - min(warm)) / 1024, 1) if rss else 0,
            "threads start / end": [self.start_threads, self.end_threads],
            "problems": self.problems,
        }


def run(seconds: float, *, idle: int = 300, chatters: int = 12, seed: int = 7) -> Report:
    """Soak a fresh server for *seconds*; the report says what happened."""
    rng = random.Random(seed)
    host = loopback_address(PORT)
    log = Path(tempfile.mkdtemp(prefix="tcpchat-soak-")) / "chat.log"
    server = ChatProcess(
        # Every soak peer is on loopback (each from its own 127.77.x.y): --limit-loopback
        # applies the per-address limits to them, as to peers on other machines.
        [
            "server",
            "--headless",
            "--host",
            host,
            "--port",
            str(PORT),
            "--log-file",
            str(log),
            "--limit-loopback",
        ],
        name="server",
    )
    report = Report(seconds, idle, chatters)
    try:
        server.wait_for_output("^listening on ")
        report.start_threads = status(server.pid)[1]
        _soak(server, host, rng, report)
    finally:
        server.stop()
    if not no_traceback(server.stderr):
        report.problems.append("the server printed a traceback")
    return report


def _soak(server: ChatProcess, host: str, rng: random.Random, report: Report) -> None:
    held = [connect(host) for _ in range(report.idle)]
    talkers = [Listener(host) for _ in range(report.chatters)]
    for number, talker in enumerate(talkers):
        talker.send(f"/nick w{number}")
    # A connect() returns once the kernel has queued the connection, which may be
    # well before the server admits it: chat only once everyone is in the room.
    for number, talker in enumerate(talkers):
        if not talker.wait_for_ending(f" is now w{number}", 60):
            report.problems.append(f"chatter w{number} was never admitted")
    sent: dict[int, int] = dict.fromkeys(range(len(talkers)), 0)
    stop = threading.Event()
    lock = threading.Lock()

    def chat(number: int) -> None:
        local = random.Random(number)
        while not stop.wait(local.uniform(0.3, 0.7)):
            talkers[number].send(f"w{number} says {sent[number]}")
            sent[number] += 1

    def misbehave() -> None:
        local = random.Random(rng.random())
        while not stop.wait(local.uniform(0.1, 0.5)):
            deed = local.choice(MISDEEDS)
            kind = deed.__name__
            try:
                handled, source = deed(host, local)
            except OSError:  # refused, or reset under load before the deed was done
                handled, source = None, ""
            with lock:
                _record(report, kind, handled, source)

    def pass_by() -> None:
        local = random.Random(rng.random())
        while not stop.wait(local.uniform(0.5, 1.5)):
            with contextlib.suppress(OSError), connect(host) as sock:
                sock.sendall(b"just passing\n/quit\n")
                while sock.recv(65536):
                    pass
            report.passers_by += 1

    workers = [threading.Thread(target=chat, args=(n,)) for n in range(len(talkers))]
    workers += [threading.Thread(target=misbehave) for _ in range(2)]
    workers.append(threading.Thread(target=pass_by))
    for worker in workers:
        worker.start()
    start = time.monotonic()
    while not stop.wait(1.0):  # sampling is the point here: once a second
        report.samples.append((round(time.monotonic() - start, 1), *status(server.pid)))
        if time.monotonic() - start >= report.seconds:
            stop.set()
    for worker in workers:
        worker.join()
    _check_delivery(talkers, sent, report)
    for sock in held:
        sock.close()
    for talker in talkers:
        talker.close()
    _check_recovery(server, host, report)
    _check_leaves(server, report)


def _record(report: Report, kind: str, handled: bool | None, source: str) -> None:
    """Count one misdeed: unreached, or reached and answered as it should be (or not)."""
    if handled is None:
        report.unreached[kind] = report.unreached.get(kind, 0) + 1
        return
    report.misdeeds[kind] = report.misdeeds.get(kind, 0) + 1
    report.sources.setdefault(kind, []).append(source)
    if not handled:
        report.unhandled[kind] = report.unhandled.get(kind, 0) + 1


def _check_leaves(server: ChatProcess, report: Report) -> None:
    """Misdeeds only the server sees the end of: its output names the right reason for each."""
    reasons = leave_reasons(server.stdout)
    for kind, expected in EXPECTED_LEAVE.items():
        for source in report.sources.get(kind, []):
            if reasons.get(source) != expected:
                report.wrong_leave[kind] = report.wrong_leave.get(kind, 0) + 1
                if len(report.problems) < 20:
                    report.problems.append(
                        f"{kind} from {source}: left ({reasons.get(source)}), not ({expected})"
                    )


def _check_delivery(talkers: list[Listener], sent: dict[int, int], report: Report) -> None:
    """Every chatter got every chatter's lines, in one order shared by all."""
    for number, talker in enumerate(talkers):
        talker.send(f"w{number} done")
    for talker in talkers:
        for number in range(len(talkers)):
            if not talker.wait_for(f"w{number}: w{number} done", 60):
                report.problems.append(f"a chatter never saw w{number}'s last line")
    report.chat_sent = sum(sent.values())
    pattern = re.compile(r"^w\d+: w\d+ says \d+$")
    orders = [[line for line in talker.lines if pattern.match(line)] for talker in talkers]
    expected = {f"w{n}: w{n} says {i}" for n, count in sent.items() for i in range(count)}
    for order in orders:
        report.lost += len(expected - set(order))
        report.chat_delivered += len(order)
        if order != orders[0]:
            report.out_of_order += 1
    report.chat_delivered //= max(len(talkers), 1)


def _check_recovery(server: ChatProcess, host: str, report: Report) -> None:
    """Once everyone has gone, a newcomer is welcome and the threads are back."""
    newcomer = Listener(host)
    # Any name: a connection of the soak may still be closing, its name not yet free.
    if not newcomer.wait_for_ending("; type /help for the commands", 15):
        report.problems.append("a newcomer after the soak was not welcomed")
    newcomer.close()
    deadline = time.monotonic() + 30
    threads = status(server.pid)[1]
    while threads > report.start_threads and time.monotonic() < deadline:
        time.sleep(0.2)  # the server's own threads wind down; /proc cannot be waited on
        threads = status(server.pid)[1]
    report.end_threads = threads
    if threads > report.start_threads:
        report.problems.append(f"threads did not return: {report.start_threads} -> {threads}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle", type=int, default=300)
    parser.add_argument("--chatters", type=int, default=12)
    parser.add_argument("--json", metavar="PATH", help="also write the report here")
    args = parser.parse_args()
    report = run(args.seconds, idle=args.idle, chatters=args.chatters)
    summary = report.summary()
    text = json.dumps({**summary, "samples": report.samples}, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(json.dumps(summary, indent=1))
    return 1 if report.problems or report.lost or report.out_of_order else 0


if __name__ == "__main__":
    raise SystemExit(main())
