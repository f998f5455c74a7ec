"""smtpd's session in-process, for failures a live daemon cannot be made to show:
a queue that refuses a write must give the client a temporary error (it keeps the
message and retries), never a 250, and the session goes on."""

import asyncio
import socket

from mailsuite import smtpd
from mailsuite.core import config
from mailsuite.core.spool import SpoolError
from mailsuite.core.stream import Stream


def talk(sock, lines):
    """Send each line, collect each reply's first line."""
    f = sock.makefile("rb")
    replies = [f.readline()]
    for line in lines:
        sock.sendall(line)
        reply = f.readline()
        while reply[3:4] == b"-":
            reply = f.readline()
        replies.append(reply)
    return [r.decode().rstrip() for r in replies]


def test_queue_failure_is_a_temporary_error(instance):
    instance.add_user("demo@example.test")
    cfg = config.load(instance.config)

    async def main():
        service = smtpd.Service(cfg)

        async def refuse(*args, **kwargs):
            raise SpoolError("queue write failed: MDB_MAP_FULL")
        service.spool.enqueue = refuse
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, stream = await loop.connect_accepted_socket(Stream, ours)
        stream.peer = ("192.0.2.1", 1234)
        session = asyncio.create_task(service.session(stream, "smtp"))
        replies = await loop.run_in_executor(None, talk, theirs, [
            b"EHLO client.test\r\n", b"MAIL FROM:<a@sender.test>\r\n",
            b"RCPT TO:<demo@example.test>\r\n", b"DATA\r\n",
            b"Subject: x\r\n\r\nbody\r\n.\r\n", b"NOOP\r\n", b"QUIT\r\n"])
        await session
        theirs.close()
        return replies

    replies = asyncio.run(main())
    assert replies[4].startswith("354")
    assert replies[5] == "451 4.3.0 queue unavailable, try again later"
    assert replies[6].startswith("250")
    assert replies[7].startswith("221")
