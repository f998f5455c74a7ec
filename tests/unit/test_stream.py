"""core.stream over a real socket pair: lines, limits, DATA scanning, STARTTLS."""

import asyncio
import socket

import pytest

from mailsuite.core.stream import LineTooLong, Stream, StreamClosed


async def pair():
    """(server-side Stream, client socket)."""
    a, b = socket.socketpair()
    a.setblocking(False)
    loop = asyncio.get_running_loop()
    _, stream = await loop.connect_accepted_socket(Stream, a)
    return stream, b


def run(coro):
    return asyncio.run(coro)


def test_readline_and_pipelined_lines():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"one\r\ntwo\r\nthr")
        assert await stream.readline(100) == b"one\r\n"
        assert await stream.readline(100) == b"two\r\n"
        peer.sendall(b"ee\r\n")
        assert await stream.readline(100) == b"three\r\n"
        peer.close()
        with pytest.raises(StreamClosed):
            await stream.readline(100)
    run(main())


def test_long_line_is_consumed_and_reported():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"x" * 5000 + b"\r\nnext\r\n")
        with pytest.raises(LineTooLong):
            await stream.readline(100)
        assert await stream.readline(100) == b"next\r\n"
    run(main())


def test_read_until_across_chunks():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"abc\r\n")
        task = asyncio.create_task(stream.read_until(b"\r\n.\r\n", 1000))
        await asyncio.sleep(0.01)
        peer.sendall(b".")
        await asyncio.sleep(0.01)
        peer.sendall(b"\r\nrest")
        assert await task == b"abc\r\n.\r\n"
        assert bytes(stream.buffer) == b"rest"
    run(main())


def test_read_until_over_limit_returns_none_and_stays_in_step():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"y" * 50000 + b"\r\n.\r\nNOOP\r\n")
        assert await stream.read_until(b"\r\n.\r\n", 1000) is None
        assert await stream.readline(100) == b"NOOP\r\n"
    run(main())


def test_readexactly():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"12345678")
        assert await stream.readexactly(5) == b"12345"
        assert await stream.readexactly(3) == b"678"
    run(main())


def test_write_and_drain():
    async def main():
        stream, peer = await pair()
        stream.write(b"hello\r\n")
        await stream.drain()
        peer.settimeout(5)
        assert peer.recv(100) == b"hello\r\n"
    run(main())
