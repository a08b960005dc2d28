"""TLS with the standard library's :mod:`ssl`: contexts, and errors in one line.

The server needs a certificate and its private key (``--tls-cert``,
``--tls-key``); the client checks that certificate against the system's
trusted authorities, or against ``--cafile`` (for a self-signed one), and
checks that it names the host it connected to.  Nothing here is clever on
purpose: :func:`ssl.create_default_context` already picks safe protocol
versions and ciphers, so this module only turns its exceptions into one line
that says what failed and what to do.  TLS 1.2 is the oldest version allowed.

TLS hides what is said from anyone on the path and, with a verified
certificate, proves the client reached the right server.  It does not tell the
server who a client is: that is the shared password's job (:mod:`tcpchat.server.door`).
"""

from __future__ import annotations

import ipaddress
import ssl

from tcpchat.errors import ChatError, describe

TLS_HANDSHAKE_RECORD = 0x16
"""The first byte of every TLS connection (a handshake record)."""

_HALF_CLOSE = getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
"""Let a peer end its side with a plain TCP close and still be written to.

tcpchat half-closes (``shutdown(SHUT_WR)``) to say "I am done talking", then
reads what is left.  Without this option OpenSSL 3 takes the peer's close for
an attack, and fails every later write on the connection.
"""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A context serving *cert* with *key*; :class:`ChatError` if they cannot be used."""
    for what, path in (("certificate", cert), ("private key", key)):
        try:
            open(path, "rb").close()  # say which file is missing, not just "errno 2"
        except OSError as exc:
            raise ChatError(f"cannot read TLS {what} {path}: {describe(exc)}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= _HALF_CLOSE
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ChatError(_describe_load_error(exc, cert, key)) from None
    return context


def client_context(cafile: str | None = None) -> ssl.SSLContext:
    """A context that verifies the server (against *cafile* if given) and its name."""
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError:
        raise ChatError(f"--cafile {cafile}: no PEM certificate in it") from None
    except OSError as exc:
        raise ChatError(f"cannot read --cafile {cafile}: {describe(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= _HALF_CLOSE
    return context


def _describe_load_error(exc: ssl.SSLError, cert: str, key: str) -> str:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"TLS key {key} does not belong to certificate {cert}"
    return f"cannot load TLS certificate {cert} with key {key}: not PEM files ({exc.reason})"


def describe_tls_error(exc: BaseException) -> str:
    """A short, human reason for a failed TLS handshake, with what to do about it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or "not trusted"
        if "mismatch" in why:
            return f"TLS: the server's certificate is for another name ({why})"
        return (
            f"TLS: the server's certificate is not trusted ({why}): "
            "if you trust it, pass it with --cafile"
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return "TLS: the other side does not speak TLS (leave out --tls?)"
        if reason in ("HTTP_REQUEST", "UNEXPECTED_EOF_WHILE_READING") or isinstance(
            exc, ssl.SSLEOFError
        ):
            return "TLS: the connection ended during the handshake"
        if "ALERT" in reason:
            alert = reason.split("ALERT_", 1)[-1].replace("_", " ").lower()
            return f"TLS: the other side refused the handshake ({alert})"
        return f"TLS: handshake failed ({reason.replace('_', ' ').lower() or exc})"
    return f"TLS: handshake failed ({describe(exc)})"


def is_loopback(host: str) -> bool:
    """True if *host* names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def plaintext_warning(host: str, *, tls: bool, password: bool) -> str | None:
    """The warning for listening beyond this machine without TLS, or None."""
    if tls or is_loopback(host):
        return None
    exposed = "the chat and the password" if password else "the chat"
    return (
        f"warning: listening on {host} without TLS: anyone on the network path can "
        f"read {exposed}; use --tls-cert and --tls-key (see docs/security.md)"
    )
