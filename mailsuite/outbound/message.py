"""A queued message as the SMTP client sends it: its envelope, what it needs from
the peer (8BITMIME, SMTPUTF8), and its bytes read from the spool in chunks,
off the event loop, so that a large message is never held whole in memory.

    message = Outgoing.prepare(entry, recipients, spool)   # in a worker thread
    async for chunk in message.chunks(size): ...           # as stored (BDAT)
    async for piece in message.stuffed(): ...              # dot-stuffed (DATA)
    tls_optional(spool, qid) -> bool       # "TLS-Required: No" (RFC 8689 5)
"""

import asyncio
import re
from dataclasses import dataclass
from typing import NamedTuple

BDAT_CHUNK = 1 << 20          # bytes in one BDAT chunk
READ_CHUNK = 256 << 10        # bytes read from the spool at a time
MEMORY_MAX = 256 << 10        # a message up to this size is read whole


class Rcpt(NamedTuple):
    address: str
    notify: tuple = ()        # RFC 3461 NOTIFY: () is the default
    orcpt: str | None = None  # RFC 3461 ORCPT: "rfc822;addr"


@dataclass
class Outgoing:
    qid: str
    sender: str
    recipients: list          # [Rcpt]
    size: int
    open: object              # () -> a binary file of the message
    eight_bit: bool = False
    utf8: bool = False
    envid: str | None = None
    ret: str | None = None
    requiretls: bool = False
    data: bytes | None = None     # the message, when it is small enough to hold

    @classmethod
    def prepare(cls, entry, recipients, spool):
        """The message of `entry` for `recipients` (Recipient records); reads
        the message once to see whether it has 8-bit bytes, and keeps it when
        it is small. Blocks: call it in a worker thread. Raises KeyError when
        the message is gone."""
        data = None
        with spool.open(entry.qid) as source:
            if entry.size <= MEMORY_MAX:
                data = source.read()
                eight_bit = not data.isascii()
            else:
                eight_bit = _has_8bit(source)
        rcpts = [Rcpt(r.address, tuple(getattr(r, "notify", ()) or ()),
                      getattr(r, "orcpt", None)) for r in recipients]
        utf8 = not all(a.isascii() for a in [entry.sender] + [r.address for r in rcpts])
        return cls(entry.qid, entry.sender, rcpts, entry.size,
                   lambda: spool.open(entry.qid), eight_bit, utf8,
                   getattr(entry, "envid", None), getattr(entry, "ret", None),
                   bool(getattr(entry, "requiretls", False)), data)

    async def chunks(self, size):
        """The message as stored, in chunks of `size` bytes."""
        if self.data is not None:
            for start in range(0, len(self.data), size):
                yield self.data[start:start + size]
            return
        loop = asyncio.get_running_loop()
        source = await loop.run_in_executor(None, self.open)
        try:
            while True:
                chunk = await loop.run_in_executor(None, source.read, size)
                if not chunk:
                    return
                yield chunk
        finally:
            source.close()

    async def stuffed(self):
        """The message for DATA: RFC 5321 4.5.2, a line that starts with a
        period gets one more; the last line ends with CRLF."""
        at_line_start, last = True, b"\r\n"
        async for chunk in self.chunks(READ_CHUNK):
            chunk = _stuff(chunk, at_line_start)
            at_line_start = chunk.endswith(b"\n")
            last = (last + chunk)[-2:]
            yield chunk
        if last != b"\r\n":
            yield b"\r\n"

    def stuffed_data(self):
        """stuffed(), all at once, for a message held in `data`."""
        chunk = _stuff(self.data, True)
        return chunk if chunk.endswith(b"\r\n") or not chunk else chunk + b"\r\n"


def tls_optional(spool, qid):
    """Whether the message's header section has "TLS-Required: No" (RFC 8689
    5), the sender's wish that MTA-STS and DANE failures not stop it. Reads
    at most READ_CHUNK bytes; blocks: call it in a worker thread. A message
    that is gone has no wish."""
    try:
        with spool.open(qid) as source:
            head = source.read(READ_CHUNK)
    except KeyError:
        return False
    head = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    return any(re.fullmatch(rb"tls-required[ \t]*:[ \t]*no[ \t]*", line.rstrip(b"\r"),
                            re.IGNORECASE)
               for line in unfolded.split(b"\n"))


def _stuff(chunk, at_line_start):
    if at_line_start and chunk.startswith(b"."):
        chunk = b"." + chunk
    return chunk.replace(b"\n.", b"\n..")


def _has_8bit(source):
    while True:
        chunk = source.read(READ_CHUNK)
        if not chunk:
            return False
        if not chunk.isascii():
            return True
