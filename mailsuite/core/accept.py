"""Taking connections in: the accept loop, and who gets a session.

`AcceptLoop` replaces asyncio's accept loop, which logs a traceback for every
accept() that fails; out of file descriptors that is thousands a second, and
the clients wait seconds. Here a failed accept() (EMFILE, ENFILE, ENOBUFS,
ENOMEM, or anything stranger) pauses accepting on every listener for
ACCEPT_PAUSE seconds: the clients wait in the kernel's listen queue, and the
failures are counted in one log line a minute at most.

`Admission` counts the running sessions, in all and per client address (an IPv6
/64 counts as one address, as one IPv4 address does), and says why a new one
would be one too many.
"""

import asyncio
import collections
import ipaddress
import logging
from typing import NamedTuple

log = logging.getLogger(__name__)

ACCEPT_PAUSE = 0.1      # seconds without accepting after a failed accept()
ACCEPT_BATCH = 64       # accepts per wake-up, so that sessions get their turn
LOG_INTERVAL = 60       # seconds between two lines about a recurring event


class Limits(NamedTuple):
    """How many sessions a daemon runs at once; 0 is no limit."""
    sessions: int = 0
    per_address: int = 0        # from one IPv4 address or one IPv6 /64
    refusal: bytes = b""        # the line a client over a limit gets, CRLF included


def address_group(peer):
    """What the per-address limit counts a client by: its IPv4 address, or its
    IPv6 /64, the smallest network a site is given (RFC 6177); None for a unix
    socket."""
    if not isinstance(peer, tuple):
        return None
    ip = ipaddress.ip_address(peer[0].partition("%")[0])
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def peer_text(peer):
    """A client's address for the log: [ip]:port, or the unix socket's path."""
    if isinstance(peer, tuple):
        return f"[{peer[0]}]:{peer[1]}"
    return str(peer or "unknown")


class Admission:
    """The running sessions, counted in all and by address group."""

    def __init__(self, limits):
        self.limits = limits
        self.running = 0
        self.by_group = collections.Counter()

    def refusal_reason(self, group):
        """Why one more session from `group` would be too many, or None."""
        if self.limits.sessions and self.running >= self.limits.sessions:
            return f"{self.running} sessions running"
        count = self.by_group[group] if group else 0
        if self.limits.per_address and count >= self.limits.per_address:
            return f"{count} sessions from {group}"
        return None

    def enter(self, group):
        self.running += 1
        self.by_group[group] += 1

    def leave(self, group):
        self.running -= 1
        self.by_group[group] -= 1
        if self.by_group[group] <= 0:
            del self.by_group[group]


class AcceptLoop:
    """Accepts on every listener [(name, socket)] and hands each connection to
    `admit(conn, addr, name)`."""

    def __init__(self, listeners, admit):
        self.listeners = listeners
        self.admit = admit
        self.pause = None           # the timer that resumes accepting
        self.failures = LogThrottle(
            "accept() failed %d time(s), the last: %s; clients wait in the listen "
            f"queue while accepting pauses ({ACCEPT_PAUSE} s each time)")

    def start(self):
        self.pause = None
        loop = asyncio.get_running_loop()
        for name, sock in self.listeners:
            loop.add_reader(sock.fileno(), self._accept, name, sock)

    def close(self):
        """Stop accepting and close the listeners (the supervisor keeps its copies)."""
        if self.pause is not None:
            self.pause.cancel()
        self._stop_reading()
        for _, sock in self.listeners:
            sock.close()
        self.listeners = []
        self.failures.flush()

    def _stop_reading(self):
        loop = asyncio.get_running_loop()
        for _, sock in self.listeners:
            loop.remove_reader(sock.fileno())

    def _accept(self, name, sock):
        for _ in range(ACCEPT_BATCH):
            if self.pause is not None:
                return              # another listener failed in this same turn
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue            # the client left while in the queue
            except OSError as exc:
                # The next accept() would fail the same way, and the listener
                # stays readable: pause rather than spin.
                self._stop_reading()
                self.pause = asyncio.get_running_loop().call_later(
                    ACCEPT_PAUSE, self.start)
                self.failures.note(exc)
                return
            conn.setblocking(False)
            self.admit(conn, addr, name)


class LogThrottle:
    """One log line per LOG_INTERVAL at most about a recurring event: the first
    at once, then, at the end of each interval, how many more there were."""

    def __init__(self, message):
        self.message = message      # %-format of the count and the last detail
        self.count = 0
        self.detail = ""
        self.last = None            # loop time of the last line
        self.timer = None

    def note(self, detail):
        self.count += 1
        self.detail = detail
        if self.timer is None:
            loop = asyncio.get_running_loop()
            due = loop.time() if self.last is None else self.last + LOG_INTERVAL
            self.timer = loop.call_at(due, self.flush)

    def flush(self):
        """Log what was counted now (at the end of an interval, or at a stop)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.count:
            log.warning(self.message, self.count, self.detail)
            self.count = 0
            self.last = asyncio.get_running_loop().time()
