"""The message data of a DATA command: end-of-data, dot-unstuffing, line endings.

RFC 5321 4.1.1.4: the data ends with the sequence CRLF "." CRLF and nothing else.
A bare LF, or "<LF>.<LF>", "<CR>.<CR>", "<LF>.<CRLF>"…, never ends it, so a
message cannot smuggle a second one past us (SMTP smuggling, CVE-2023-51764 and
relatives). Stray CR and LF are then turned into CRLF (RFC 5321 2.3.8 allows no
other line ending), so nothing downstream can read them as line ends either.

`finish` applies these rules to the whole data at once; `Decoder` applies the
same rules to data that arrives in pieces, split anywhere, and gives the same
bytes, so that a message can go to disk as it arrives; `receive` reads the data
from the stream in pieces of at most CHUNK bytes, and `read` gives a DATA
command's message in pieces. `Meter` keeps what the limits need (the size, the
header section) as the pieces go by, and `check` applies the limits to it, for
DATA and BDAT alike.
"""

import asyncio
import re

from .errors import ProtocolError

END = b"\r\n.\r\n"
CHUNK = 256 << 10    # input decoded at a time: a session's memory does not grow
                     # with the size of the message
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")
MAX_HOPS = 100   # RFC 5321 6.3: a loop shows as too many Received fields


def finish(raw):
    """Turn what was read (starting with the CRLF that ended the DATA command and
    ending with END) into the message bytes."""
    body = raw[:-3]                      # keep the CRLF that precedes "."
    # RFC 5321 4.5.2: "if the first character is a period and there are other
    # characters on the line, the first character is deleted".
    body = body.replace(b"\r\n.", b"\r\n")
    body = body[2:]
    if _has_bare_line_ends(body):
        body = _BARE.sub(b"\r\n", body)
    return body


def _has_bare_line_ends(data):
    crlf = data.count(b"\r\n")
    return data.count(b"\n") != crlf or data.count(b"\r") != crlf


class Decoder:
    """`finish` for data that arrives in pieces. feed() takes the input that
    follows the DATA command line, split anywhere, and returns message bytes;
    joined, they are what `finish` gives for the whole. Once END has come, `done`
    is true and `rest` is the input that followed it (pipelined commands).

    Each input byte's fate depends on the two bytes before it (a dot after CRLF
    is unstuffed; an LF after anything but CR is bare) and, for a CR, on the byte
    after it (a CR before anything but LF is bare). So the decoder keeps the last
    input bytes it decoded (END may also begin in them) and holds back a CR that
    ends a piece until the next byte comes.
    """

    def __init__(self):
        self._seen = b"\r\n"     # the CRLF that ended the DATA command line
        self._held = b""
        self.done = False
        self.rest = b""

    def feed(self, chunk):
        """The message bytes that `chunk` completes."""
        if self.done:
            raise ValueError("the data has already ended")
        data = self._seen + self._held + chunk
        start = len(self._seen)
        end = data.find(END)
        if end >= 0:
            self.done = True
            self.rest = data[end + len(END):]
            # END's CRLF belongs to the message; when END began among the bytes
            # already decoded, they were all given out (its dot gives nothing).
            return _decode(data[start - 2:start], data[start:end + 2])
        stop = len(data) - 1 if data.endswith(b"\r") else len(data)
        piece = _decode(data[start - 2:start], data[start:stop])
        self._seen = data[max(stop - len(END) + 1, 0):stop]
        self._held = data[stop:]
        return piece


def _decode(before, raw):
    """The message bytes for the input `raw`, which follows the two input bytes
    `before`. Neither ends with a CR (the decoder holds one back), so every CR in
    `raw` has its next byte in `raw`, and an LF at the start of `raw` is bare."""
    body = (before + raw).replace(b"\r\n.", b"\r\n")[2:]
    if _has_bare_line_ends(body):
        body = _BARE.sub(b"\r\n", body)
    return body


async def receive(stream, deadline):
    """The next input on `stream` (a core.stream.Stream): what is buffered, up to
    CHUNK bytes, else what arrives next. TimeoutError once the loop's clock is
    past `deadline`, even while input keeps coming."""
    if asyncio.get_running_loop().time() > deadline:
        raise TimeoutError()
    first = b""
    if not stream.pending():
        async with asyncio.timeout_at(deadline):
            first = await stream.readexactly(1)
    return first + await stream.readexactly(min(stream.pending(), CHUNK))


async def read(stream, limits):
    """A DATA command's message in pieces as they arrive (Decoder), checked at
    its end. Past the size limit the pieces are dropped, and the data is read on
    to its end; data_timeout bounds the whole of it, not each read."""
    decoder = Decoder()
    meter = Meter(limits.max_header_size)
    deadline = asyncio.get_running_loop().time() + limits.data_timeout
    while not decoder.done:
        try:
            piece = decoder.feed(await receive(stream, deadline))
        except TimeoutError:
            raise ProtocolError(421, "4.4.2", "timeout reading data", close=True)
        meter.add(piece)
        if piece and meter.size <= limits.max_message_size:
            yield piece
    stream.buffer[0:0] = decoder.rest      # pipelined commands after the data
    check(meter, limits)


def check(meter, limits):
    """Raise ProtocolError when a whole message, as `meter` saw it, breaks a
    limit."""
    # RFC 1870 6.3: too large after all is a permanent failure.
    if meter.size > limits.max_message_size:
        raise ProtocolError(552, "5.3.4", "message size exceeds limit")
    if header_size(meter.head) > limits.max_header_size:
        raise ProtocolError(552, "5.3.4", "header section exceeds limit")
    if count_received(meter.head, MAX_HOPS) >= MAX_HOPS:
        raise ProtocolError(554, "5.4.6", "too many hops (mail loop?)")


class Meter:
    """What the limits need from a message, taken from its pieces as they go by:
    its size, and enough of its start to hold the header section, or to show
    that the header section is longer than `max_header`. header_size(head) and
    count_received(head, ...) then give what they would for the whole message."""

    def __init__(self, max_header):
        self.size = 0
        self.head = bytearray()
        self._keep = max_header + len(b"\r\n\r\n")
        self._head_known = False

    def add(self, piece):
        self.size += len(piece)
        if self._head_known:
            return
        searched = max(len(self.head) - 3, 0)
        self.head += piece[:self._keep - len(self.head)]
        self._head_known = (len(self.head) >= self._keep
                            or self.head.startswith(b"\r\n")
                            or self.head.find(b"\r\n\r\n", searched) >= 0)


def header_size(data):
    """Length of the header section (up to the empty line, or all of it)."""
    if data.startswith(b"\r\n"):
        return 0
    end = data.find(b"\r\n\r\n")
    return len(data) if end < 0 else end + 2


def count_received(data, limit):
    """Received: fields in the header section (stops counting at `limit`)."""
    head = data[:header_size(data)]
    count = 1 if head[:9].lower() == b"received:" else 0
    for match in re.finditer(rb"\r\nreceived:", head, re.IGNORECASE):
        count += 1
        if count >= limit:
            break
    return count
