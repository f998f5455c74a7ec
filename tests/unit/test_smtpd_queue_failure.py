"""smtpd's session in-process, for failures a live daemon cannot be made to show:
a queue that refuses a write must give the client a temporary error (it keeps the
message and retries), never a 250, and the session goes on."""

import asyncio
import errno
import os
import socket

from mailsuite import smtpd
from mailsuite.core import config, spoolfiles
from mailsuite.core.spool import Spool, SpoolError
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


def test_disk_full_while_data_streams_in(instance, monkeypatch):
    """The disk fills while a large message is being written: the client gets
    452 4.3.1 after its data, the partial file is removed, the message queued
    before is intact, and the next message is taken."""
    instance.add_user("demo@example.test")
    cfg = config.load(instance.config)
    room = [spoolfiles.INLINE_MAX + 100_000]
    real_write_all = spoolfiles._write_all

    def filling(fd, data):
        if len(data) > room[0]:
            real_write_all(fd, data[:room[0]])
            room[0] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        room[0] -= len(data)
        real_write_all(fd, data)

    monkeypatch.setattr(spoolfiles, "_write_all", filling)
    small = b"Subject: small\r\n\r\nkept\r\n"
    large = b"Subject: large\r\n\r\n" + (b"z" * 998 + b"\r\n") * 1000

    def transaction(f, sock, body):
        for line in (b"MAIL FROM:<a@sender.test>\r\n", b"RCPT TO:<demo@example.test>\r\n",
                     b"DATA\r\n"):
            sock.sendall(line)
            f.readline()
        sock.sendall(body + b".\r\n")
        return f.readline().decode().rstrip()

    def client(sock):
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO client.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        replies = [transaction(f, sock, body) for body in (small, large, small)]
        sock.sendall(b"QUIT\r\n")
        return replies + [f.readline().decode().rstrip()]

    async def main():
        service = smtpd.Service(cfg)
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, stream = await loop.connect_accepted_socket(Stream, ours)
        stream.peer = ("192.0.2.1", 1234)
        session = asyncio.create_task(service.session(stream, "smtp"))
        replies = await loop.run_in_executor(None, client, theirs)
        await session
        theirs.close()
        return replies

    replies = asyncio.run(main())
    assert replies[0].startswith("250 2.0.0 Ok: queued as ")
    assert replies[1] == "452 4.3.1 insufficient system storage"
    assert replies[2].startswith("250 2.0.0 Ok: queued as ")
    assert replies[3].startswith("221")
    assert os.listdir(instance.state / "spool" / "files") == []
    with Spool(instance.state) as queue:
        qids = [entry.qid for entry in queue.entries()]
        assert qids == [replies[0].split()[-1], replies[2].split()[-1]]
        assert all(queue.load(qid).endswith(small) for qid in qids)
