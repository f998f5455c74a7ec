"""Reading one HTTP/1.1 request off a Stream, within limits (RFC 9112).

`read_head()` returns the request line and header fields as a `Head`; `read_body()`
returns the whole body as a `Body` (in memory, spilled to a temporary file past
SPILL bytes, the file written in a thread). Whatever the client sends, the answer
is a `Head`/`Body` or an `HttpError` naming the status to answer (400, 408, 411,
413, 414, 431, 501, 505) after which the connection is closed; nothing a client
sends makes a read wait past its deadline or hold more than the limits.
"""

import asyncio
import io
import re
import tempfile
from typing import NamedTuple

from .stream import LineTooLong

SPILL = 1 << 20         # bytes of a body kept in memory; more go to a file
READ_CHUNK = 1 << 16

# RFC 9110 5.6.2: a method and a field name are tokens.
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 3: method SP request-target SP HTTP-version; a target has no spaces
# nor controls (RFC 3986 2).
REQUEST_LINE = re.compile(rb"([^ ]+) ([\x21-\x7e]+) HTTP/(\d)\.(\d)\r?\n")
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class HttpError(Exception):
    """A request we answer with `status` and close the connection after."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


class Limits(NamedTuple):
    """What one request may be; sizes in bytes, times in seconds."""
    request_line: int = 8192
    header_line: int = 8192
    headers: int = 100          # header fields
    header_bytes: int = 65536   # all the header fields together
    body: int = 16 << 20
    head_timeout: float = 30    # from a request's first byte to its blank line
    body_timeout: float = 120   # for the whole body
    idle_timeout: float = 60    # between two requests on a kept-alive connection
    send_timeout: float = 60    # for each chunk of a response the client must take
    requests: int = 1000        # on one connection


class Head(NamedTuple):
    method: str
    target: str
    version: tuple              # (1, 1)
    fields: list                # [(lower-case name, value)] in order

    def get(self, name, default=None):
        """The field's values joined by ", " (RFC 9110 5.3), or default."""
        values = [v for n, v in self.fields if n == name]
        return ", ".join(values) if values else default


async def read_head(stream, limits):
    """The next request's head; None if the client closed or stayed idle
    between requests (no byte of a request came)."""
    try:
        line = await _first_line(stream, limits)
    except TimeoutError:
        return None
    if line is None:
        return None
    deadline = asyncio.get_running_loop().time() + limits.head_timeout
    method, target, version = parse_request_line(line)
    fields = await _read_fields(stream, limits, deadline)
    return Head(method, target, version, fields)


async def _first_line(stream, limits):
    # RFC 9112 2.2: a server should ignore at least one empty line before a request.
    for _ in range(2):
        try:
            line = await stream.readline(limits.request_line,
                                         timeout=limits.idle_timeout)
        except LineTooLong:
            raise HttpError(414, "request line too long") from None
        if line.strip():
            return line
    return None


def parse_request_line(line):
    match = REQUEST_LINE.fullmatch(line)
    if not match or not TOKEN.fullmatch(match[1]):
        raise HttpError(400, "malformed request line")
    if match[3] != b"1":
        raise HttpError(505, "HTTP version not supported")
    return (match[1].decode("ascii"), match[2].decode("ascii"),
            (int(match[3]), int(match[4])))


async def _read_fields(stream, limits, deadline):
    fields, total = [], 0
    while True:
        try:
            line = await stream.readline(limits.header_line, timeout=_left(deadline))
        except LineTooLong:
            raise HttpError(431, "header field too long") from None
        except TimeoutError:
            raise HttpError(408, "request header timeout") from None
        if line in (b"\r\n", b"\n"):
            return fields
        total += len(line)
        if len(fields) >= limits.headers or total > limits.header_bytes:
            raise HttpError(431, "too many header fields")
        fields.append(parse_field(line))


def parse_field(line):
    name, colon, value = line.partition(b":")
    # RFC 9112 5.1: no whitespace between the name and the colon; RFC 9112 5.2:
    # obsolete line folding is refused.
    if not colon or not TOKEN.fullmatch(name):
        raise HttpError(400, "malformed header field")
    value = value.strip(b" \t\r\n")
    if not FIELD_VALUE.fullmatch(value):
        raise HttpError(400, "malformed header field value")
    return name.decode("ascii").lower(), value.decode("latin-1")


def _left(deadline):
    return max(0.0, deadline - asyncio.get_running_loop().time())


# the body

def body_framing(head, limits):
    """("length", n), ("chunked", None) or ("none", 0), checked (RFC 9112 6)."""
    coding = head.get("transfer-encoding")
    length = head.get("content-length")
    if coding is not None:
        # RFC 9112 6.1: chunked must be the final coding; 6.3: a request with
        # both fields is an attack on the framing (smuggling): refuse it.
        if length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if coding.strip().lower() != "chunked":
            raise HttpError(501, "unsupported transfer coding")
        return "chunked", None
    if length is None:
        return "none", 0
    # RFC 9112 6.3: several differing values, or one that is no number, are
    # an unrecoverable error.
    values = {v.strip() for v in length.split(",")}
    if len(values) != 1 or not values.copy().pop().isdigit():
        raise HttpError(400, "invalid Content-Length")
    size = int(values.pop())
    if size > limits.body:
        raise HttpError(413, "request body too large")
    return "length", size


async def read_body(stream, head, limits):
    kind, size = body_framing(head, limits)
    body = Body()
    if kind == "none":
        return body
    deadline = asyncio.get_running_loop().time() + limits.body_timeout
    try:
        if kind == "length":
            await _read_length(stream, size, body, deadline)
        else:
            await _read_chunked(stream, body, limits, deadline)
    except TimeoutError:
        body.close()
        raise HttpError(408, "request body timeout") from None
    except HttpError:
        body.close()
        raise
    return body


async def _read_length(stream, size, body, deadline):
    while size:
        chunk = await stream.readexactly(min(size, READ_CHUNK), timeout=_left(deadline))
        size -= len(chunk)
        await body.write(chunk)


async def _read_chunked(stream, body, limits, deadline):
    """RFC 9112 7.1: chunk-size [ext] CRLF data CRLF ..., 0 CRLF, trailers CRLF."""
    while True:
        size = await _chunk_size(stream, limits, deadline)
        if body.size + size > limits.body:
            raise HttpError(413, "request body too large")
        if size == 0:
            break
        await _read_length(stream, size, body, deadline)
        if await stream.readexactly(2, timeout=_left(deadline)) != b"\r\n":
            raise HttpError(400, "malformed chunk")
    # Trailer fields are read and dropped (RFC 9112 7.1.2 lets a server discard them).
    await _read_fields(stream, limits, deadline)


async def _chunk_size(stream, limits, deadline):
    try:
        line = await stream.readline(limits.header_line, timeout=_left(deadline))
    except LineTooLong:
        raise HttpError(400, "chunk header too long") from None
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 16 or not all(c in b"0123456789abcdefABCDEF"
                                                for c in digits):
        raise HttpError(400, "malformed chunk size")
    return int(digits, 16)


class Body:
    """A request body: bytes in memory, or a temporary file past SPILL."""

    def __init__(self):
        self.memory = bytearray()
        self.file = None
        self.size = 0

    async def write(self, data):
        self.size += len(data)
        if self.file is None and self.size <= SPILL:
            self.memory += data
            return
        if self.file is None:
            self.file = await asyncio.to_thread(tempfile.TemporaryFile)
            data, self.memory = bytes(self.memory) + data, bytearray()
        await asyncio.to_thread(self.file.write, data)

    def reader(self):
        """A binary file to read the body from (for the worker thread)."""
        if self.file is None:
            return io.BytesIO(bytes(self.memory))
        self.file.seek(0)
        return self.file

    def close(self):
        if self.file is not None:
            self.file.close()
