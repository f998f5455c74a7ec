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


async def outcome(read, bound=5):
    """Wait at most `bound` seconds for `read` (a coroutine or task): its result
    or exception, or "still waiting"."""
    task = asyncio.ensure_future(read)
    done, _ = await asyncio.wait({task}, timeout=bound)
    if not done:
        task.cancel()
        return "still waiting"
    return task.exception() or task.result()


async def trickle(peer, data, pace=0.02):
    """Send `data` a byte at a time; returns how many bytes went out."""
    for i, byte in enumerate(data):
        try:
            peer.sendall(bytes([byte]))
        except OSError:
            return i
        await asyncio.sleep(pace)
    return len(data)


def test_readline_deadline_covers_the_whole_line():
    async def main():
        stream, peer = await pair()
        sender = asyncio.create_task(trickle(peer, b"x" * 200 + b"\r\n"))
        result = await outcome(stream.readline(1000, timeout=0.3))
        assert isinstance(result, TimeoutError)
        assert not sender.done(), "the trickled line ended before the deadline"
        sender.cancel()
    run(main())


def test_deadline_covers_the_discarding_of_a_long_line():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"x" * 500)
        sender = asyncio.create_task(trickle(peer, b"y" * 200 + b"\r\n"))
        result = await outcome(stream.readline(100, timeout=0.3))
        assert isinstance(result, TimeoutError)
        assert not sender.done()
        sender.cancel()
    run(main())


def test_read_until_and_readexactly_take_a_deadline():
    async def main():
        stream, peer = await pair()
        peer.sendall(b"abc")
        assert isinstance(await outcome(stream.readexactly(5, timeout=0.1)),
                          TimeoutError)
        assert isinstance(await outcome(stream.read_until(b"\r\n.\r\n", 100,
                                                          timeout=0.1)), TimeoutError)
        peer.sendall(b"\r\n.\r\n")
        assert await stream.read_until(b"\r\n.\r\n", 100, timeout=0.1) == b"abc\r\n.\r\n"
    run(main())


def test_a_deadline_ends_with_its_read():
    async def main():
        loop = asyncio.get_running_loop()
        stream, peer = await pair()
        armed_until = loop.time() + 0.1
        loop.call_soon(peer.sendall, b"HELO x\r\n")
        assert await stream.readline(100, timeout=0.1) == b"HELO x\r\n"
        # A read without a deadline outlives the old one's timer.
        reading = asyncio.create_task(stream.read_until(b"\r\n.\r\n", 100))
        fired = asyncio.Event()
        loop.call_at(armed_until + 0.01, fired.set)
        await fired.wait()
        peer.sendall(b"data\r\n.\r\n")
        assert await outcome(reading) == b"data\r\n.\r\n"
    run(main())


def test_an_earlier_deadline_is_kept():
    async def main():
        stream, peer = await pair()
        asyncio.get_running_loop().call_soon(peer.sendall, b"NOOP\r\n")
        assert await stream.readline(100, timeout=60) == b"NOOP\r\n"
        assert isinstance(await outcome(stream.readline(100, timeout=0.1)),
                          TimeoutError)
    run(main())


def test_no_deadline_waits_for_input():
    async def main():
        stream, peer = await pair()
        sender = asyncio.create_task(trickle(peer, b"slow but whole\r\n"))
        assert await outcome(stream.readline(100)) == b"slow but whole\r\n"
        await sender
    run(main())
