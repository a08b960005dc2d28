"""A coverage-guided fuzz target for the line buffer and the command parser.

Run it with atheris (``pip install atheris``), which mutates inputs towards
new code paths::

    python tests/fuzz/fuzz_protocol.py -max_total_time=600      # ten minutes, on demand
    python tests/fuzz/fuzz_protocol.py -max_total_time=60 -seed=1  # what CI runs

``tests/fuzz/test_fuzz_protocol.py`` runs the same :func:`check` under
hypothesis in every test run, and this file under atheris for a bounded
number of inputs when atheris is installed.  A failure prints the input that
caused it; atheris also saves it as ``crash-*`` for replay.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # under atheris: instrument tcpchat so coverage guides the inputs
    import atheris

    with atheris.instrument_imports():
        from tcpchat import protocol
        from tcpchat.server import door as gate
else:
    from tcpchat import protocol
    from tcpchat.server import door as gate


def check(data: bytes) -> None:
    """Feed *data* to every parser in pieces decided by *data*; check what comes out."""
    if len(data) < 2:
        return
    limit = 1 + data[0] % 64
    cuts = sorted({1 + byte % max(1, len(data) - 2) for byte in data[1:4]})
    stream = data[2:]
    pieces = [
        stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=False)
    ]

    buffer = protocol.LineBuffer(limit)
    lines: list[str] = []
    too_long = 0
    for piece in pieces:
        for frame in buffer.feed(piece):
            if isinstance(frame, protocol.Line):
                lines.append(frame.text)
            else:
                too_long += 1
                assert frame.size > frame.limit == limit
        # Memory is bounded by the limit, whatever arrives.
        assert buffer.pending_bytes <= limit + 1

    # Chunking never changes the result: one piece gives the same lines.
    whole = protocol.LineBuffer(limit)
    same = [f.text for f in whole.feed(stream) if isinstance(f, protocol.Line)]
    assert same == lines, (same, lines)
    if too_long == 0:
        assert lines == [protocol.decode_line(raw) for raw in stream.split(b"\n")[:-1]]

    for text in lines:
        assert "\n" not in text
        assert text == protocol.neutralise(text)
        command = protocol.parse_command(text)
        if isinstance(command, protocol.Nick):
            protocol.validate_nick(command.name)
        elif isinstance(command, protocol.Chat) and text.strip():
            assert protocol.parse_command(protocol.escape_chat(command.text)) == command
        protocol.parse_server_line(text)
        gate.password_refusal(text, "s3cret")


if __name__ == "__main__":
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
