"""A buffered byte stream for line-oriented protocols (SMTP, IMAP, POP3).

Built on asyncio.Protocol rather than StreamReader so that the session owns its input
buffer: reads come in large chunks, DATA is scanned for its terminator with
bytes.find, and STARTTLS can prove that no plaintext was pipelined behind the command
(the "STARTTLS command injection" class of bugs, CVE-2011-0411).

Every read takes an optional `timeout`: a deadline for the whole call, counted from
when it began, so a peer that trickles a byte at a time cannot stretch one read
forever. A peer that goes away, or fails the TLS handshake, raises StreamClosed:
that is ordinary client behaviour, for the caller to log in one line.

`compress()` deflates the stream from then on in both directions (IMAP COMPRESS,
RFC 4978), above TLS when TLS is on. Input is inflated only as the reader makes
room for it, never past HIGH_WATER: a small deflated message that would inflate to
gigabytes costs no more memory than the same bytes sent plainly. Input that does
not inflate ends the stream (StreamClosed).
"""

import asyncio
import ssl
import zlib


class StreamClosed(Exception):
    """The peer went away."""


class TLSHandshakeFailed(StreamClosed, ConnectionError):
    """The TLS handshake did not complete: the peer went away, spoke something
    else than TLS, or offered nothing we accept. The message says which."""


class LineTooLong(Exception):
    """A line exceeded the protocol's limit; the rest of the line was discarded."""


class Stream(asyncio.Protocol):
    HIGH_WATER = 1 << 20
    INFLATE_STEP = 1 << 16

    def __init__(self):
        self.transport = None
        self.buffer = bytearray()
        self.eof = False
        self._waiter = None
        self._paused = False
        self._drain_waiter = None
        self._write_paused = False
        self.tls = False
        self.peer = None
        self._deadline = None       # loop time at which the current read gives up
        self._timer = None
        self._deflate = None        # set by compress()
        self._inflate = None
        self._deflated = bytearray()    # received, not inflated yet

    # asyncio.Protocol callbacks

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data):
        if self._inflate is None:
            self.buffer += data
        else:
            self._deflated += data
            self._inflate_some()
        if self.pending() > self.HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self):
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc):
        self.eof = True
        self._wake()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._drain_waiter and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self):
        self._write_paused = True

    def resume_writing(self):
        self._write_paused = False
        if self._drain_waiter and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # reading

    def _wake(self):
        if self._waiter and not self._waiter.done():
            self._waiter.set_result(None)

    @staticmethod
    def _deadline_after(timeout):
        """The loop time `timeout` seconds from now (None: no deadline)."""
        if timeout is None:
            return None
        return asyncio.get_running_loop().time() + timeout

    async def _fill(self, deadline=None):
        """Wait for more input; raise StreamClosed at end of input, TimeoutError
        once the loop's clock reaches `deadline`."""
        # A reader waiting for more may inflate past HIGH_WATER, as reading
        # resumes for it below when paused.
        if self._inflate_some(self.INFLATE_STEP):
            return
        if self.eof:
            raise StreamClosed()
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._deadline = deadline
        if deadline is not None:
            self._arm(loop, deadline)
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _arm(self, loop, deadline):
        # One timer per stream, moved forward lazily by _expire, rather than one
        # timer armed and cancelled for every read; moved back only when a read
        # has an earlier deadline than the one armed.
        if self._timer is not None and self._timer.when() <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire)

    def _expire(self):
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._deadline is None:
            return                  # no read with a deadline now; the next one arms
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
        else:
            waiter.set_exception(TimeoutError())

    def _consume(self, n):
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        if self._paused and self.pending() < self.HIGH_WATER // 2:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def readline(self, limit, timeout=None):
        """One line including its LF. A longer line raises LineTooLong after the
        line is consumed, so the session can answer and go on. If the line is not
        complete `timeout` seconds after the call, TimeoutError."""
        deadline = self._deadline_after(timeout)
        start = 0
        while True:
            pos = self.buffer.find(b"\n", start)
            if pos >= 0:
                line = self._consume(pos + 1)
                if len(line) > limit:
                    raise LineTooLong()
                return line
            start = len(self.buffer)
            if start > limit:
                await self._discard_line(deadline)
                raise LineTooLong()
            await self._fill(deadline)

    async def _discard_line(self, deadline):
        while True:
            pos = self.buffer.find(b"\n")
            if pos >= 0:
                self._consume(pos + 1)
                return
            self.buffer.clear()
            await self._fill(deadline)

    async def readexactly(self, n, timeout=None):
        """Exactly `n` bytes; TimeoutError if they are not all there `timeout`
        seconds after the call."""
        deadline = self._deadline_after(timeout)
        while len(self.buffer) < n:
            await self._fill(deadline)
        return self._consume(n)

    async def read_until(self, marker, limit, timeout=None):
        """Bytes up to and including `marker`. If more than `limit` bytes come
        before it, they are discarded as they arrive and the result is None; the
        marker is consumed either way, so the session stays in step. TimeoutError
        if the marker has not come `timeout` seconds after the call."""
        deadline = self._deadline_after(timeout)
        keep = len(marker) - 1
        start = 0
        overflow = False
        while True:
            pos = self.buffer.find(marker, start)
            if pos >= 0:
                data = self._consume(pos + len(marker))
                return None if overflow or len(data) > limit + len(marker) else data
            if len(self.buffer) > limit + keep:
                overflow = True
                self._consume(len(self.buffer) - keep)
            start = max(0, len(self.buffer) - keep)
            await self._fill(deadline)

    def pending(self):
        """Bytes received and not yet read."""
        return len(self.buffer) + len(self._deflated)

    # compression (RFC 4978)

    @property
    def compressed(self):
        return self._deflate is not None

    def compress(self):
        """Deflate (RFC 1951, raw) everything written from now on, and inflate
        everything read, including what was received and not yet read. Each
        write is flushed (Z_SYNC_FLUSH) so that the peer can read it at once."""
        # A smaller window than the 32 KiB one the peer may use: about 64 KiB of
        # state per session instead of 270 (zlib's deflateInit2 memory formula).
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -13, 6)
        self._inflate = zlib.decompressobj(-15)
        self._deflated, self.buffer = bytearray(self.buffer), bytearray()
        self._inflate_some()

    def _inflate_some(self, least=0):
        """Inflate received input while the buffer has room (at least `least`
        bytes); True if it grew."""
        room = max(self.HIGH_WATER - len(self.buffer), least)
        if self._inflate is None or not self._deflated or room <= 0:
            return False
        try:
            data = self._inflate.decompress(bytes(self._deflated), room)
            ended = self._inflate.eof
        except zlib.error:
            data, ended = b"", True
        if ended:
            # Bad input, or the peer ended its deflate stream: nothing after it
            # can be read.
            self._deflated.clear()
            self.eof = True
            if self.transport is not None:
                self.transport.close()
        else:
            self._deflated = bytearray(self._inflate.unconsumed_tail)
        self.buffer += data
        return bool(data)

    # writing

    def write(self, data):
        if self.transport is not None and not self.transport.is_closing():
            if self._deflate is not None:
                data = self._deflate.compress(data) + self._deflate.flush(
                    zlib.Z_SYNC_FLUSH)
            self.transport.write(data)

    async def drain(self):
        if self.transport is None or self.transport.is_closing():
            raise StreamClosed()
        if self._write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    async def starttls(self, ctx, reply=b"", timeout=30):
        """Upgrade to TLS as the server, after sending `reply` (the go-ahead).

        Input already buffered is discarded: RFC 3207 5 and RFC 2595 3.1 forbid
        acting on plaintext sent before the handshake. Reading is paused before
        the go-ahead leaves, so every byte the client sends after it (its
        ClientHello) stays in the socket for TLS."""
        self.buffer.clear()
        self.transport.pause_reading()
        if reply:
            self.transport.write(reply)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self.transport, self, ctx, server_side=True)
        except TimeoutError:
            self.transport.abort()
            raise TLSHandshakeFailed("timeout") from None
        except OSError as exc:      # ssl.SSLError, ConnectionResetError, ...
            self.transport.abort()
            raise TLSHandshakeFailed(_handshake_error(exc)) from None
        if transport is None:
            raise TLSHandshakeFailed("connection closed")
        self.transport = transport
        self.tls = True

    def tls_info(self):
        """(protocol version, cipher name) of the TLS session, or None."""
        obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        if obj is None:
            return None
        return obj.version(), obj.cipher()[0]

    def close(self):
        if self.transport is not None:
            self.transport.close()

    def abort(self):
        if self.transport is not None:
            self.transport.abort()


def _handshake_error(exc):
    """Why a handshake failed, in a word or two: "WRONG_VERSION_NUMBER"."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason
    if isinstance(exc, ConnectionError):
        return "connection closed"
    return exc.strerror or type(exc).__name__
