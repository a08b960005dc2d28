"""The yardstick: the canonical Twisted ``LineReceiver`` chat server.

This is the chat server from Twisted's documentation (``chat.py`` in the
"Writing Servers" howto), changed only so that it carries the same load as
tcpchat and so that nothing handicaps it:

* a newcomer is named ``ClientN`` at once instead of being asked for a name,
  and greeted with one line, as tcpchat does;
* a line goes to everyone *including the sender*, as ``NAME: TEXT``, so both
  servers deliver the same number of lines of (nearly) the same size;
* the line is encoded once, not once per recipient, and Nagle's algorithm is
  off (tcpchat turns it off too): both only make Twisted faster;
* ``\\n`` is the delimiter (tcpchat's framing), and the listen backlog is
  large enough for a thousand clients connecting at once.

Run: ``python -m benchmarks.twisted_chat --host 127.0.0.1 --port 9123``.
"""

from __future__ import annotations

import argparse
import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineReceiver


class Chat(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 4096

    def __init__(self, users: dict[bytes, Chat], name: bytes) -> None:
        self.users = users
        self.name = name

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        self.users[self.name] = self
        self.sendLine(b"* welcome, you are " + self.name)

    def connectionLost(self, reason: object = None) -> None:
        self.users.pop(self.name, None)

    def lineReceived(self, line: bytes) -> None:
        message = f"{self.name.decode()}: {line.decode('utf-8', 'replace')}".encode()
        for user in self.users.values():
            user.sendLine(message)


class ChatFactory(protocol.Factory):
    def __init__(self) -> None:
        self.users: dict[bytes, Chat] = {}
        self.count = 0

    def buildProtocol(self, addr: object) -> Chat:
        self.count += 1
        name = b"Client" if self.count == 1 else b"Client%d" % self.count
        return Chat(self.users, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9123)
    args = parser.parse_args()
    port = reactor.listenTCP(args.port, ChatFactory(), backlog=4096, interface=args.host)
    print(f"listening on {args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
