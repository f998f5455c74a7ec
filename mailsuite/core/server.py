"""The skeleton every daemon runs in: read config, take sockets, serve, stop cleanly.

A daemon's main() is `server.main("smtpd", {"smtp"}, start)` where `start(cfg,
sockets)` returns the coroutine to run (usually `serve(...)`). Failures policy:
a configuration or activation problem is one line on stderr and exit 78; an exception
inside one client session is logged with its traceback and ends that session only.
"""

import argparse
import asyncio
import logging
import signal
import socket
import sys
import time

from . import activation, config
from . import log as logsetup
from .stream import Stream, StreamClosed, TLSHandshakeFailed
from .tls import TLSUnavailable

log = logging.getLogger(__name__)


def main(program, allowed, start, argv=None):
    """Entry point shared by the daemons; returns the process exit status."""
    parser = argparse.ArgumentParser(prog=f"mail-{program}")
    parser.add_argument("-c", "--config", help="configuration file "
                        f"(default: $MAILSUITE_CONFIG or {config.DEFAULT_PATH})")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"mail-{program}: {exc}", file=sys.stderr)
        return config.EX_CONFIG
    logsetup.setup(program, cfg.server.log_level)
    try:
        sockets = activation.listen_sockets()
        activation.require(sockets, allowed)
    except activation.ActivationError as exc:
        print(f"mail-{program}: {exc}", file=sys.stderr)
        return config.EX_CONFIG
    try:
        asyncio.run(start(cfg, sockets))
    except KeyboardInterrupt:
        pass
    return 0


class Server:
    """Accepts connections on stream sockets and runs one session task per client."""

    def __init__(self, session, *, credentials=None, implicit_tls=(), idle_exit=0,
                 on_stop=None):
        self.session = session
        self.on_stop = on_stop      # called once stopping begins, before the grace
        self.credentials = credentials
        self.implicit_tls = set(implicit_tls)
        self.idle_exit = idle_exit
        self.tasks = set()
        self.last_active = time.monotonic()
        self.stopped = None
        self.servers = []

    async def serve(self, sockets, background=()):
        """Serve until SIGTERM/SIGINT or the idle timeout; then stop cleanly."""
        loop = asyncio.get_running_loop()
        self.stopped = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopped.set)
        for name, sock in sockets:
            if sock.type != socket.SOCK_STREAM:
                continue
            srv = await loop.create_server(
                lambda name=name: _Connection(self, name), sock=sock, backlog=1024)
            self.servers.append(srv)
        helpers = [asyncio.create_task(coro) for coro in background]
        if self.idle_exit:
            helpers.append(asyncio.create_task(self._idle_watch()))
        activation.ready()
        await self.stopped.wait()
        ignore_stop_signals()
        activation.stopping()
        for srv in self.servers:
            srv.close()
        for task in helpers:
            task.cancel()
        if self.on_stop is not None:
            self.on_stop()
        await self._finish_sessions()

    async def _finish_sessions(self, grace=10):
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)

    async def _idle_watch(self):
        while True:
            await asyncio.sleep(1)
            idle = time.monotonic() - self.last_active
            if not self.tasks and idle >= self.idle_exit:
                log.info("idle for %d s: exiting", idle)
                self.stopped.set()
                return

    def sessions(self):
        """How many clients are being served now."""
        return len(self.tasks)

    def started(self, stream, name):
        task = asyncio.create_task(self._run(stream, name))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task):
        self.tasks.discard(task)
        self.last_active = time.monotonic()

    async def _run(self, stream, name):
        try:
            if name in self.implicit_tls:
                await stream.starttls(self.credentials.context())
            await self.session(stream, name)
        except TLSHandshakeFailed as exc:
            log.info("TLS handshake failed from %s: %s", _peer(stream), exc)
        except (StreamClosed, ConnectionError, TLSUnavailable, asyncio.TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("session with %s failed", _peer(stream))
        finally:
            stream.close()


def ignore_stop_signals():
    """Once stopping, a second SIGTERM or SIGINT (Ctrl-C reaches a whole process
    group) must not interrupt the clean stop; nor may it find the loop's wake-up
    pipe already closed while asyncio shuts down."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


class _Connection(Stream):
    def __init__(self, server, name):
        super().__init__()
        self.server = server
        self.name = name

    def connection_made(self, transport):
        super().connection_made(transport)
        if self.name in self.server.implicit_tls:
            # Not a byte for the plaintext stream: the ClientHello is TLS's.
            transport.pause_reading()
        self.server.started(self, self.name)


def _peer(stream):
    peer = stream.peer
    if isinstance(peer, tuple):
        return f"[{peer[0]}]:{peer[1]}"
    return str(peer or "unknown")


def peer_ip(stream):
    """The client's IP address as a string ("" for unix sockets)."""
    peer = stream.peer
    return peer[0] if isinstance(peer, tuple) else ""


def is_loopback(ip):
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") \
        or ip.startswith("::ffff:127.")
