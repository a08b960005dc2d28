"""``HOST:PORT`` as the client's ``--server`` and ``TCPCHAT_SERVERS`` take it.

Every bad address is a ValueError whose message names the text and says
what was expected, for the command line to print as it is.
"""

from __future__ import annotations

import pytest

from tcpchat.client.servers import DEFAULT_PORT, ServerRound, parse_server, parse_servers


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.2:9001", ("127.0.0.2", 9001)),
        ("localhost", ("localhost", DEFAULT_PORT)),
        ("chat.example-1.org:1", ("chat.example-1.org", 1)),  # the lowest port
        ("h:65535", ("h", 65535)),  # the highest
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", DEFAULT_PORT)),
        ("[fe80::1%lo]:7", ("fe80::1%lo", 7)),
        ("  127.0.0.3:9  ", ("127.0.0.3", 9)),
    ],
)
def test_good_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_server(text) == address


def test_the_default_port_is_the_servers() -> None:
    assert DEFAULT_PORT == 9000


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "it is empty; expected HOST:PORT, e.g. 127.0.0.1:9000"),
        ("   ", "it is empty; expected HOST:PORT, e.g. 127.0.0.1:9000"),
        ("h:", "the port '' is not a number from 1 to 65535"),
        ("h:0", "the port '0' is not a number from 1 to 65535"),
        ("h:65536", "the port '65536' is not a number from 1 to 65535"),
        ("h:x", "the port 'x' is not a number from 1 to 65535"),
        ("h:+1", "the port '+1' is not a number from 1 to 65535"),
        ("h:\u0661\u0662", "the port '\u0661\u0662' is not a number from 1 to 65535"),
        (":9000", "no host before ':'"),
        ("::1:9000", "an IPv6 address needs brackets, e.g. [::1]:9000"),
        ("[::1", "no ']' after the IPv6 address; expected [ADDRESS]:PORT"),
        ("[::1]9000", "expected ':PORT' after ']'"),
        ("[127.0.0.1]:9000", "'127.0.0.1' is not an IPv6 address"),
        ("[]:9000", "'' is not an IPv6 address"),
        ("redis://h:6379", "give HOST:PORT, not a URL"),
        ("a b:1", "'a b' is not a host name or IPv4 address"),
        ("-h:1", "'-h' is not a host name or IPv4 address"),
        ("h/x:1", "'h/x' is not a host name or IPv4 address"),
    ],
)
def test_bad_addresses_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"^bad server address") as caught:
        parse_server(text)
    assert str(caught.value) == f"bad server address {text!r}: {why}"


def test_a_list_is_comma_separated() -> None:
    assert parse_servers("127.0.0.2:1, [::1]:2,h") == [
        ("127.0.0.2", 1),
        ("::1", 2),
        ("h", DEFAULT_PORT),
    ]


@pytest.mark.parametrize("text", ["", " ", "a:1,", ",a:1", "a:1,,b:2", "a:1, ,b:2"])
def test_a_list_with_an_empty_entry_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^bad server list") as caught:
        parse_servers(text)
    assert str(caught.value) == (
        f"bad server list {text!r}: expected HOST:PORT,HOST:PORT with no empty entries"
    )


def test_a_bad_entry_of_a_list_is_named() -> None:
    with pytest.raises(ValueError, match=r"^bad server address 'b:0': the port '0'"):
        parse_servers("a:1,b:0")


def test_a_round_tries_each_server_once_then_after_a_session_starts_from_the_next() -> None:
    servers = [("a", 1), ("b", 2), ("c", 3)]
    first = ServerRound(servers)
    assert [first.next(), first.next(), first.next(), first.next()] == [*servers, None]
    after_b = ServerRound(servers)
    assert after_b.next() == ("a", 1)
    assert after_b.next() == ("b", 2)  # connected here, and it got its session
    after_b.restart_after_current()
    tried = [after_b.next() for _ in range(4)]
    assert tried == [("c", 3), ("a", 1), ("b", 2), None]  # the lost one last
    assert not ServerRound([("a", 1)]).fails_over
    assert ServerRound(servers).fails_over
    with pytest.raises(ValueError, match="at least one server"):
        ServerRound([])
