"""Wake-up hints between programs over unix datagram sockets.

A hint says "look now"; it carries no data the receiver depends on. Sending never
blocks and never fails loudly: a receiver that is not running, or a full socket
buffer, costs latency (the receiver also scans on a timer), never mail.
"""

import asyncio
import os
import socket

_sender = None


def send(path, payload=b"wake"):
    """Send one datagram to the socket at `path`; drop it on any error."""
    global _sender
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    try:
        _sender.sendto(payload, os.fspath(path))
        return True
    except OSError:
        return False


def bind(path):
    """Bind a datagram socket at `path`, replacing a stale one."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    return sock


class Listener:
    """Collects datagrams from a socket; `await wait(timeout)` returns what arrived."""

    def __init__(self, sock):
        self.sock = sock
        self.event = asyncio.Event()
        self.pending = []
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            self.pending.append(data)
        self.event.set()

    async def wait(self, timeout):
        """Wait up to `timeout` seconds for hints; return the list received."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self.event.clear()
        hints, self.pending = self.pending, []
        return hints

    def close(self):
        """Stop listening and close the socket."""
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
