import pytest
from hypothesis import given, settings, strategies as st

from mailsuite.smtp import data


def read(raw):
    """What the session passes to finish(): the DATA line's CRLF, then the data."""
    return data.finish(b"\r\n" + raw)


def test_plain_message():
    assert read(b"Subject: x\r\n\r\nbody\r\n.\r\n") == b"Subject: x\r\n\r\nbody\r\n"


def test_empty_message():
    assert read(b".\r\n") == b""


def test_dot_unstuffing():
    msg = read(b"a\r\n..\r\n...x\r\n.y\r\n.\r\n")
    assert msg == b"a\r\n.\r\n..x\r\ny\r\n"


def test_first_line_dot_unstuffed():
    assert read(b"..hidden\r\n.\r\n") == b".hidden\r\n"


def test_bare_line_ends_become_crlf():
    assert read(b"a\nb\rc\r\n.\r\n") == b"a\r\nb\r\nc\r\n"


def test_header_size():
    assert data.header_size(b"A: b\r\nC: d\r\n\r\nbody") == 12
    assert data.header_size(b"\r\nbody") == 0
    assert data.header_size(b"A: b\r\n") == 6


def test_count_received():
    msg = b"Received: a\r\nreceived: b\r\nX: y\r\n\r\nReceived: body\r\n"
    assert data.count_received(msg, 100) == 2


# the decoder: the same rules for data that arrives in pieces

# Bytes that matter to the rules, the smuggling endings of
# tests/protocol/test_smtp_smuggling.py, and END itself.
SMUGGLING = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r.\r",
             b"\n.\r", b"\r\n\x00.\r\n"]
TOKENS = st.sampled_from([b"\r", b"\n", b".", b"\r\n", b"..", b"a", b"\x00", b"\xff",
                          b"Received: x\r\n", data.END] + SMUGGLING)
WIRE = st.lists(TOKENS, max_size=60).map(b"".join)


def decode_in_pieces(wire, cuts):
    """Feed `wire` split at `cuts`; returns (message, rest after END)."""
    decoder = data.Decoder()
    pieces, bounds = [], sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    for start, stop in zip(bounds, bounds[1:]):
        pieces.append(decoder.feed(wire[start:stop]))
        if decoder.done:
            return b"".join(pieces), decoder.rest + wire[stop:]
    raise AssertionError("END not found")


@settings(max_examples=1000, deadline=None)
@given(WIRE, WIRE, st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_decoding_in_pieces_is_decoding_whole(before, after, cuts):
    wire = before + data.END + after
    end = (b"\r\n" + wire).find(data.END)
    message, rest = decode_in_pieces(wire, cuts)
    assert message == data.finish((b"\r\n" + wire)[:end + len(data.END)])
    assert rest == wire[end + len(data.END) - 2:]


@settings(max_examples=300, deadline=None)
@given(WIRE)
def test_decoding_byte_by_byte_is_decoding_whole(before):
    wire = before + data.END + b"QUIT\r\n"
    end = (b"\r\n" + wire).find(data.END)
    message, rest = decode_in_pieces(wire, range(len(wire)))
    assert message == data.finish((b"\r\n" + wire)[:end + len(data.END)])
    assert rest == wire[end + len(data.END) - 2:]


@pytest.mark.parametrize("ending", SMUGGLING)
def test_smuggling_endings_do_not_end_the_data(ending):
    wire = b"Subject: outer\r\n\r\nhello" + ending + b"MAIL FROM:<x@y>\r\n.\r\nNOOP\r\n"
    message, rest = decode_in_pieces(wire, range(len(wire)))
    assert b"MAIL FROM:<x@y>" in message and rest == b"NOOP\r\n"
    assert message.count(b"\n") == message.count(b"\r\n") == message.count(b"\r")


def test_end_right_after_the_data_line():
    decoder = data.Decoder()
    assert decoder.feed(b".") == b""
    assert not decoder.done
    assert decoder.feed(b"\r\nQUIT\r\n") == b""
    assert decoder.done and decoder.rest == b"QUIT\r\n"


def test_feeding_after_the_end_is_refused():
    decoder = data.Decoder()
    decoder.feed(b"x\r\n.\r\n")
    with pytest.raises(ValueError):
        decoder.feed(b"more")


# the meter: the limits' view of a message that goes by in pieces

@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([b"\r\n", b"\r\n\r\n", b"Received: a", b"x" * 7,
                                 b"\r", b"\n", b"received:"]), max_size=40).map(b"".join),
       st.lists(st.integers(min_value=0, max_value=300), max_size=8),
       st.integers(min_value=0, max_value=40))
def test_meter_agrees_with_the_whole_message(message, cuts, max_header):
    meter = data.Meter(max_header)
    bounds = sorted({0, len(message), *(c % (len(message) + 1) for c in cuts)})
    for start, stop in zip(bounds, bounds[1:]):
        meter.add(message[start:stop])
    assert meter.size == len(message)
    whole = data.header_size(message)
    assert (data.header_size(meter.head) > max_header) == (whole > max_header)
    if whole <= max_header:
        assert data.count_received(meter.head, 100) == data.count_received(message, 100)
