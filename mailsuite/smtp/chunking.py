"""CHUNKING (RFC 3030): the message in BDAT chunks of a stated size.

A chunk's octets follow its command line, exactly as many as it says, with no
dot-stuffing and no end marker. Whatever the answer, every octet of a chunk is
read before it (RFC 3030 2: the client sends it in any case), so that none of them
is ever taken for a command. Bare CR and LF are turned into CRLF as in DATA
(mailsuite.smtp.data), across chunk boundaries too, so that nothing downstream
reads a different message than the one we checked.

    parse(arg) -> Chunk(size, last)
    Normalizer: feed(octets) -> bytes; end() -> bytes
    pieces(stream, size, deadline): the chunk's octets in pieces of data.CHUNK
"""

import asyncio
import re
from typing import NamedTuple

from . import data as msgdata
from .errors import ProtocolError

_ARG = re.compile(r"([0-9]{1,20})(?: +(LAST))? *", re.IGNORECASE)
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


class Chunk(NamedTuple):
    size: int
    last: bool


def parse(arg):
    """RFC 3030 2: "BDAT" SP chunk-size [ SP end-marker ]."""
    match = _ARG.fullmatch(arg)
    if not match:
        raise ProtocolError(501, "5.5.4", "syntax: BDAT size [LAST]")
    return Chunk(int(match.group(1)), match.group(2) is not None)


class Normalizer:
    """Bare CR and LF into CRLF, for octets that come in pieces: a CR that ends a
    piece waits for the octet after it, so that a CRLF split between two chunks
    stays one line end."""

    def __init__(self):
        self._held = b""        # a CR at the end of the last piece

    def feed(self, octets):
        data = self._held + octets
        self._held = b""
        if data.endswith(b"\r"):
            data, self._held = data[:-1], b"\r"
        return _BARE.sub(b"\r\n", data)

    def end(self):
        """The octets held back, at the end of the message."""
        held, self._held = self._held, b""
        return b"\r\n" if held else b""


async def pieces(stream, size, deadline):
    """The `size` octets of a chunk, as they arrive, in pieces of at most
    data.CHUNK; 421 once the loop's clock passes `deadline`."""
    left = size
    while left:
        try:
            async with asyncio.timeout_at(deadline):
                piece = await stream.readexactly(min(left, msgdata.CHUNK))
        except TimeoutError:
            raise ProtocolError(421, "4.4.2", "timeout reading data", close=True)
        left -= len(piece)
        yield piece


class Chunked:
    """A message arriving in BDAT chunks: where it goes, and what the limits have
    seen of it so far."""

    def __init__(self, incoming, limits, deadline):
        self.incoming = incoming
        self.limits = limits
        self.deadline = deadline    # data_timeout bounds the whole message
        self.normalizer = Normalizer()
        self.meter = msgdata.Meter(limits.max_header_size)

    async def take(self, chunk, octets):
        """Take one chunk's octets (an async iterator); after the last, check
        the limits and queue the message: its queue id, else None."""
        async for piece in octets:
            await self._add(self.normalizer.feed(piece))
        if not chunk.last:
            return None
        await self._add(self.normalizer.end())
        msgdata.check(self.meter, self.limits)
        return await self.incoming.commit()

    async def _add(self, piece):
        # Past the size limit the octets are dropped; the last chunk fails.
        self.meter.add(piece)
        if piece and self.meter.size <= self.limits.max_message_size:
            await self.incoming.write(piece)
