"""core.stream's compression (IMAP COMPRESS=DEFLATE, RFC 4978) over a real socket
pair: both directions deflated, input inflated only as it is read, bad input ends
the stream."""

import asyncio
import socket
import zlib

import pytest

from mailsuite.core.stream import LineTooLong, Stream, StreamClosed


class Watched(Stream):
    """A Stream that remembers the largest its input buffer grew."""
    largest = 0

    def _inflate_some(self, least=0):
        grew = super()._inflate_some(least)
        self.largest = max(self.largest, len(self.buffer))
        return grew


async def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.settimeout(10)
    loop = asyncio.get_running_loop()
    _, stream = await loop.connect_accepted_socket(Watched, a)
    return stream, b


def deflater():
    return zlib.compressobj(6, zlib.DEFLATED, -15)


def deflated(compressor, data):
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


async def send(peer, data):
    await asyncio.get_running_loop().sock_sendall(peer, data)


def received(peer, inflater, count):
    """`count` bytes the stream wrote, inflated."""
    out = b""
    while len(out) < count:
        out += inflater.decompress(peer.recv(65536))
    return out


def test_both_directions_are_deflated_from_compress_on():
    async def main():
        stream, peer = await pair()
        peer.setblocking(False)
        out = deflater()
        # Input received before compress() and not yet read is deflated too.
        await send(peer, deflated(out, b"one\r\n"))
        for _ in range(1000):
            if stream.pending():
                break
            await asyncio.sleep(0.01)
        assert stream.pending()
        stream.compress()
        assert await stream.readline(100) == b"one\r\n"
        await send(peer, deflated(out, b"two\r\nthree\r\n"))
        assert await stream.readline(100) == b"two\r\n"
        assert await stream.readline(100) == b"three\r\n"
        stream.write(b"* OK first\r\n")
        stream.write(b"* OK second\r\n")
        peer.setblocking(True)
        reply = await asyncio.to_thread(received, peer, zlib.decompressobj(-15), 25)
        assert reply == b"* OK first\r\n* OK second\r\n"
        assert stream.compressed
    asyncio.run(main())


def test_a_deflate_bomb_is_inflated_only_as_it_is_read():
    async def main():
        stream, peer = await pair()
        stream.compress()
        out = deflater()
        # 64 MiB of one long line in about 64 KiB on the wire, then a short one.
        bomb = b"".join(out.compress(b"x" * (1 << 20)) for _ in range(64))
        bomb += deflated(out, b"\r\nnext\r\n")
        sender = asyncio.create_task(send(peer, bomb))
        with pytest.raises(LineTooLong):
            await stream.readline(65536)
        assert await stream.readline(100) == b"next\r\n"
        await sender
        assert stream.largest <= Stream.HIGH_WATER + Stream.INFLATE_STEP
    asyncio.run(main())


def test_a_literal_larger_than_the_buffer_is_read_whole():
    async def main():
        stream, peer = await pair()
        stream.compress()
        size = 3 * Stream.HIGH_WATER
        data = bytes(range(256)) * (size // 256)
        sender = asyncio.create_task(send(peer, deflated(deflater(), data + b"end\r\n")))
        assert await asyncio.wait_for(stream.readexactly(size), 10) == data
        assert await stream.readline(100) == b"end\r\n"
        await sender
    asyncio.run(main())


def test_input_that_does_not_inflate_ends_the_stream():
    async def main():
        stream, peer = await pair()
        stream.compress()
        await send(peer, b"\xff\xff\xff\xff plain text, not deflate\r\n")
        with pytest.raises(StreamClosed):
            await asyncio.wait_for(stream.readline(100), 10)
    asyncio.run(main())
