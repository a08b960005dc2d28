"""Container health: is the chat server listening (IPv4)?  Exit 0 if yes, 1 if not.

It reads the kernel's socket table instead of connecting, because a
connection would be a real chat client: every check would greet the room with
a join and a leave.  The address is the server's own, from TCPCHAT_HOST and
TCPCHAT_PORT (as the ``tcpchat`` command reads them), so on a shared (host)
network another program's listener on the same port does not count.
"""

from __future__ import annotations

import os
import socket
import sys

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def listening(host: str, port: int) -> bool:
    wanted = socket.inet_aton(socket.gethostbyname(host))
    with open("/proc/net/tcp", encoding="ascii") as table:
        for row in table.readlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address_hex, port_hex = local.split(":")
            # The kernel prints the address as a native-endian 32-bit number.
            address = int(address_hex, 16).to_bytes(4, sys.byteorder)
            if (
                state == LISTEN
                and int(port_hex, 16) == port
                # A listener on 0.0.0.0 serves every address, the wanted one too.
                and address in (wanted, bytes(4))
            ):
                return True
    return False


if __name__ == "__main__":
    host = os.environ.get("TCPCHAT_HOST") or "127.0.0.1"
    port = int(os.environ.get("TCPCHAT_PORT") or 9000)
    sys.exit(0 if listening(host, port) else 1)
