"""Container health for tcpchat: ``tcpchat-healthcheck [server|client]``.

* server (the default): healthy once the server listens on its address;
* client: healthy while the client is connected to its server.

The address is the one the ``tcpchat`` command uses, from TCPCHAT_HOST and
TCPCHAT_PORT.  Exit code 0 means healthy, 1 not.

It reads the kernel's socket tables (``/proc/net/tcp``, IPv4) instead of
connecting, because a connection would be a real chat client: every check
would greet the room with a join and a leave.  Only sockets held by this
container's own processes count (matched by inode through ``/proc/*/fd``; the
container has its own process namespace), so on a shared host network another
program's socket on the same address does not make a container look healthy.
"""

from __future__ import annotations

import glob
import os
import socket
import sys

LISTEN, ESTABLISHED = "0A", "01"  # the "st" column of /proc/net/tcp


def own_socket_inodes() -> set[str]:
    """Inodes of the sockets this container's processes hold."""
    inodes = set()
    for fd_dir in glob.glob("/proc/[0-9]*/fd"):
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            continue  # the process ended, or is not ours to look into
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    return inodes


def decode(endpoint: str) -> tuple[bytes, int]:
    """``0100007F:2328`` → (b"\\x7f\\0\\0\\x01", 9000)."""
    address_hex, port_hex = endpoint.split(":")
    # The kernel prints the address as a native-endian 32-bit number.
    return int(address_hex, 16).to_bytes(4, sys.byteorder), int(port_hex, 16)


def healthy(role: str, host: str, port: int) -> bool:
    wanted = socket.inet_aton(socket.gethostbyname(host))
    ours = own_socket_inodes()
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [row.split() for row in table.readlines()[1:]]
    for row in rows:
        (local, local_port), (remote, remote_port) = decode(row[1]), decode(row[2])
        state, inode = row[3], row[9]
        if inode not in ours:
            continue
        if role == "server":
            # A listener on 0.0.0.0 serves every address, the wanted one too.
            found = state == LISTEN and local_port == port and local in (wanted, bytes(4))
        else:
            found = state == ESTABLISHED and (remote, remote_port) == (wanted, port)
        if found:
            return True
    return False


def main(argv: list[str]) -> int:
    role = argv[0] if argv else "server"
    if role not in ("server", "client"):
        print("usage: tcpchat-healthcheck [server|client]", file=sys.stderr)
        return 2
    host = os.environ.get("TCPCHAT_HOST") or "127.0.0.1"
    port = int(os.environ.get("TCPCHAT_PORT") or 9000)
    try:
        return 0 if healthy(role, host, port) else 1
    except OSError as exc:  # e.g. the server's name does not resolve (yet)
        print(f"tcpchat-healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
