"""The skeleton every daemon runs in: read config, take sockets, serve, stop cleanly.

A daemon's main() is `server.main("smtpd", {"smtp"}, start)` where `start(cfg,
sockets)` returns the coroutine to run (usually `serve(...)`). Failures policy:
a configuration or activation problem is one line on stderr and exit 78; an exception
inside one client session is logged with its traceback and ends that session only.

Connections come in through core.accept: a client over the daemon's session limits
(`Limits`) gets the daemon's refusal line and is closed at once, without a session;
running out of file descriptors pauses accepting, with one log line a minute.
"""

import argparse
import asyncio
import logging
import signal
import socket
import sys
import time

from . import activation, config, metrics
from . import log as logsetup
from .accept import AcceptLoop, Admission, Limits, LogThrottle, address_group, peer_text
from .stream import Stream, StreamClosed, TLSHandshakeFailed
from .tls import TLSUnavailable

log = logging.getLogger(__name__)

MAX_TLS_REFUSALS = 32   # refusals spoken in TLS at once; past them, a bare close
REFUSAL_TIMEOUT = 10    # seconds for a refusal's handshake, line and close


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
        metrics.start(cfg, program)
    except OSError as exc:
        log.warning("counting nothing for /metrics: %s", exc)
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
    except config.ConfigError as exc:       # a file the configuration names
        print(f"mail-{program}: {exc}", file=sys.stderr)
        return config.EX_CONFIG
    return 0


class Server:
    """Accepts connections on stream sockets and runs one session task per client."""

    def __init__(self, session, *, credentials=None, implicit_tls=(), idle_exit=0,
                 on_stop=None, limits=Limits()):
        self.session = session
        self.on_stop = on_stop      # called once stopping begins, before the grace
        self.credentials = credentials
        self.implicit_tls = set(implicit_tls)
        self.idle_exit = idle_exit
        self.limits = limits
        self.admission = Admission(limits)
        self.tasks = set()          # the sessions
        self.refusing = set()       # refusals under way in TLS
        self.refusals = LogThrottle(
            "refused %d connection(s) over the session limits, the last: %s")
        self.last_active = time.monotonic()
        self.stopped = None
        self.accepting = None

    async def serve(self, sockets, background=()):
        """Serve until SIGTERM/SIGINT or the idle timeout; then stop cleanly."""
        loop = asyncio.get_running_loop()
        self.stopped = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopped.set)
        self.accepting = AcceptLoop(
            [(name, sock) for name, sock in sockets if sock.type == socket.SOCK_STREAM],
            self._admit)
        if self.credentials is not None:
            # Load the certificate now rather than in the first TLS session, which
            # may come when descriptors are short; a bad one is reported at start.
            self.credentials.available()
        self.accepting.start()
        helpers = [asyncio.create_task(coro) for coro in background]
        if self.idle_exit:
            helpers.append(asyncio.create_task(self._idle_watch()))
        activation.ready()
        await self.stopped.wait()
        ignore_stop_signals()
        activation.stopping()
        self.accepting.close()
        for task in helpers:
            task.cancel()
        if self.on_stop is not None:
            self.on_stop()
        await self._finish_sessions()
        self.refusals.flush()

    async def _finish_sessions(self, grace=10):
        for task in list(self.refusing):
            task.cancel()
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
        return self.admission.running

    def _admit(self, conn, addr, name):
        group = address_group(addr)
        reason = self.admission.refusal_reason(group)
        if reason:
            self.refusals.note(f"{peer_text(addr)}: {reason}")
            self._refuse(conn, name)
            return
        self.admission.enter(group)
        task = asyncio.create_task(self._run(conn, name, group))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task):
        self.tasks.discard(task)
        self.last_active = time.monotonic()

    async def _run(self, conn, name, group):
        stream = None
        try:
            stream = await _connect(conn, name in self.implicit_tls)
            if name in self.implicit_tls:
                await stream.starttls(self.credentials.context())
            with metrics.connection():
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
            # The slot is free before the client can see the connection close.
            self.admission.leave(group)
            _close(stream, conn)

    # refusals

    def _refuse(self, conn, name):
        if name not in self.implicit_tls:
            try:
                conn.send(self.limits.refusal)
            except OSError:
                pass                # the client is gone, or not reading: no matter
            conn.close()
        elif len(self.refusing) < MAX_TLS_REFUSALS:
            task = asyncio.create_task(self._refuse_in_tls(conn))
            self.refusing.add(task)
            task.add_done_callback(self.refusing.discard)
        else:
            conn.close()            # a handshake each would spend what the limit saves

    async def _refuse_in_tls(self, conn):
        """On an implicit-TLS socket the refusal is spoken in TLS (RFC 8314 3.3):
        the handshake, the line and the close, within REFUSAL_TIMEOUT."""
        stream = None
        try:
            async with asyncio.timeout(REFUSAL_TIMEOUT):
                stream = await _connect(conn, True)
                await stream.starttls(self.credentials.context())
                stream.write(self.limits.refusal)
                stream.close()
                await stream.lost
        except (StreamClosed, ConnectionError, TLSUnavailable, TimeoutError,
                asyncio.CancelledError):
            pass
        finally:
            if stream is None:
                conn.close()
            elif not stream.lost.done():
                stream.abort()      # no wait for the client's close_notify


def ignore_stop_signals():
    """Once stopping, a second SIGTERM or SIGINT (Ctrl-C reaches a whole process
    group) must not interrupt the clean stop; nor may it find the loop's wake-up
    pipe already closed while asyncio shuts down."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


class _Connection(Stream):
    def __init__(self, implicit_tls):
        super().__init__()
        self.implicit_tls = implicit_tls
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        super().connection_made(transport)
        if self.implicit_tls:
            # Not a byte for the plaintext stream: the ClientHello is TLS's.
            transport.pause_reading()

    def connection_lost(self, exc):
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)


async def _connect(conn, implicit_tls):
    """A Stream on an accepted socket."""
    loop = asyncio.get_running_loop()
    _, stream = await loop.connect_accepted_socket(
        lambda: _Connection(implicit_tls), sock=conn)
    return stream


def _close(stream, conn):
    if stream is not None:
        stream.close()
    else:
        conn.close()


def _peer(stream):
    return peer_text(stream.peer if stream is not None else None)


def peer_ip(stream):
    """The client's IP address as a string ("" for unix sockets)."""
    peer = stream.peer
    return peer[0] if isinstance(peer, tuple) else ""


def is_loopback(ip):
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") \
        or ip.startswith("::ffff:127.")
