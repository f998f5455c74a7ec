"""The SMTP client of outbound delivery: one session with one mail host, which
carries several messages in turn, each to several recipients, and gives an
outcome for every recipient.

    session = await Session.open(host, address, port, helo_name, timeouts)
    outcomes = await session.send(message)     # {address: Outcome}
    await session.close()                      # QUIT, then the socket

The session greets with EHLO (HELO when EHLO is refused, RFC 5321 3.2) and
takes STARTTLS (RFC 3207) whenever offered. What it proves of the server is
the host's TLS policy (`policy`, an outbound.tlspolicy.HostTls): by default
nothing (opportunistic TLS, RFC 7435 3), and again in plain text if the
handshake fails; under an enforced MTA-STS or DANE policy, STARTTLS and a
certificate that passes the policy, else the host is not used (TlsFailed
becomes DeliveryFailed 4.7.x, no plain-text fallback); under a testing
policy, a failure is logged and the session made again as an opportunistic
one. `session.authenticated` says the certificate passed MTA-STS or DANE.
With a Login (a relay host), it logs in with AUTH PLAIN inside TLS, never in
clear. The transactions themselves, and the extensions they use, are in
outbound.transaction; this module is the connection and the wire.

Failure policy: a connection that cannot be made, or a greeting that refuses
service, raises DeliveryFailed (the caller tries the next address); a session
that breaks or times out in a transaction raises SessionBroken, and the
message's recipients without a reply yet are deferred (4.4.2).
"""

import asyncio
import base64
import functools
import logging
import ssl
from typing import NamedTuple

from . import dane, transaction
from .dane import TlsFailed
from .message import Outgoing
from .status import DeliveryFailed, Reply, show_reply
from .tlspolicy import HostTls, opportunistic_context

log = logging.getLogger("deliverd")

__all__ = ["Login", "Session", "SessionBroken", "Timeouts", "Outgoing"]

LINE_MAX = 4096               # the longest reply line read (RFC 5321 4.5.3.1.5: 512)


class Timeouts(NamedTuple):
    connect: float            # the connection and the greeting
    command: float            # each reply
    final: float              # the reply after the message data


class Login(NamedTuple):
    user: str
    password: str

    def __repr__(self):
        return f"Login({self.user!r}, <password>)"


class SessionBroken(Exception):
    """The session ended in the middle of a transaction."""


class Session:
    def __init__(self, reader, writer, host, address, timeouts):
        self.reader, self.writer = reader, writer
        self.host, self.address = host, address
        self.timeouts = timeouts
        self.extensions = {}      # EHLO keyword -> its parameters
        self.tls = False
        self.authenticated = False    # the certificate passed MTA-STS or DANE

    @property
    def remote(self):
        """The peer as Postfix names it in logs and Remote-MTA: name[address]."""
        return f"{self.host}[{self.address}]"

    @classmethod
    async def open(cls, host, address, port, helo_name, timeouts, tls=True,
                   login=None, policy=None):
        """A session with `host` at `address`, greeted and EHLO'd (STARTTLS done
        when offered, as `policy` asks), logged in with `login` (Login) when
        given; raises DeliveryFailed."""
        policy = policy or opportunistic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, limit=LINE_MAX),
                timeouts.connect)
        except (OSError, asyncio.TimeoutError) as exc:
            raise DeliveryFailed("4.4.1", f"connect to {host}[{address}]:{port}: "
                                          f"{_why(exc)}") from None
        session = cls(reader, writer, host, address, timeouts)
        try:
            await session._start(helo_name, timeouts.connect, tls, policy)
            if login is not None:
                await session._login(login)
        except TlsFailed as exc:
            session.abort()
            if policy.enforce:
                raise DeliveryFailed(exc.status, f"{session.remote}: {exc}, as the "
                                                 f"{policy.source} requires") from None
            # RFC 8461 5: a testing policy reports failures, and delivers.
            log.info("outbound: %s: %s; the %s would refuse it", session.remote, exc,
                     policy.source)
            return await cls.open(host, address, port, helo_name, timeouts, login=login)
        except SessionBroken as exc:
            session.abort()
            if tls and session.tls is None and policy.enforce:
                raise DeliveryFailed("4.7.5", f"{session.remote}: {exc}, and the "
                                              f"{policy.source} requires TLS") from None
            if tls and session.tls is None and login is None:
                # RFC 7435 3: opportunistic TLS falls back to plain text.
                return await cls.open(host, address, port, helo_name, timeouts,
                                      tls=False)
            raise DeliveryFailed("4.4.2", f"{session.remote}: {exc}") from None
        except DeliveryFailed:
            session.abort()
            raise
        return session

    async def _start(self, helo_name, timeout, tls, policy):
        greeting = await self._reply(timeout)
        # RFC 5321 3.1: a server that will not serve greets with 554 (or 421).
        if not greeting.ok:
            raise DeliveryFailed(_status_class(greeting) + ".0.0",
                                 f"{self.remote} refused service: {show_reply(greeting)}")
        await self._hello(helo_name)
        if tls and "STARTTLS" in self.extensions:
            reply = await self.command("STARTTLS")
            if reply.code == 220:
                self.tls = None           # in the handshake
                await self._starttls(policy)
                self.tls = True
                await self._hello(helo_name)   # RFC 3207 4.2: forget and ask again
        # RFC 8461 4.2, RFC 7672 2.2: a policy's host must offer STARTTLS.
        if tls and not self.tls and policy.kind in ("mta-sts", "dane"):
            raise TlsFailed("no STARTTLS", "4.7.4")

    async def _hello(self, helo_name):
        reply = await self.command(f"EHLO {helo_name}")
        if reply.ok:
            self.extensions = _extensions(reply.text)
            return
        # RFC 5321 3.2: a server that does not know EHLO is greeted with HELO.
        self.extensions = {}
        reply = await self.command(f"HELO {helo_name}")
        if not reply.ok:
            raise DeliveryFailed(_status_class(reply) + ".0.0",
                                 f"{self.remote} refused HELO: {show_reply(reply)}")

    async def _login(self, login):
        """AUTH PLAIN (RFC 4954, RFC 4616), only inside TLS: a password is
        never sent in clear."""
        if not self.tls:
            raise DeliveryFailed("4.7.0", f"{self.remote} offers no TLS: the "
                                          "relay login is not sent in clear")
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        if "PLAIN" not in mechanisms:
            raise DeliveryFailed("4.7.0", f"{self.remote} offers no AUTH PLAIN")
        token = f"\0{login.user}\0{login.password}".encode("utf-8")
        reply = await self.command("AUTH PLAIN " + base64.b64encode(token).decode())
        # RFC 4954 6: 235 is success; anything else leaves the mail waiting
        # until the login is put right.
        if reply.code != 235:
            raise DeliveryFailed("4.7.8", f"{self.remote} refused the relay login: "
                                          f"{show_reply(reply)}")

    async def _starttls(self, policy):
        """The handshake, with SNI (RFC 7672 8.1); then the policy's check of
        the certificate: the handshake's own (MTA-STS, RFC 8461 4.2) or the
        TLSA records' (DANE)."""
        try:
            await asyncio.wait_for(self.writer.start_tls(
                policy.context, server_hostname=self.host), self.timeouts.command)
        except ssl.SSLCertVerificationError as exc:
            raise TlsFailed(f"certificate not valid: {exc.verify_message}") from None
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            raise SessionBroken(f"TLS handshake failed: {_why(exc)}") from None
        if policy.kind == "dane":
            dane.check(self.writer.get_extra_info("ssl_object"), policy.tlsa,
                       self.host)
        self.authenticated = policy.verify or bool(policy.tlsa)
        if self.authenticated:
            log.info("outbound: %s: certificate verified (%s)", self.remote,
                     policy.source)

    # one message

    async def send(self, message):
        """Send one message (outbound.transaction); returns {recipient address:
        Outcome}. Raises SessionBroken: the recipients then have no outcome."""
        return await transaction.send(self, message)

    # the wire

    def write(self, data):
        self.writer.write(data)

    async def command(self, line):
        self.writer.write(line.encode("utf-8") + b"\r\n")
        return await self.flush_and_reply(self.timeouts.command)

    async def pipeline(self, lines, last=None):
        """RFC 2920 3.1: the commands in one write, then their replies in order;
        `last`, raw bytes (DATA, or a BDAT chunk), ends the group."""
        group = b"".join(line.encode("utf-8") + b"\r\n" for line in lines)
        self.writer.write(group + (last or b""))
        await self.drain()
        replies = [await self._reply(self.timeouts.command) for _ in lines]
        if last is not None:
            last_timeout = self.timeouts.final if last.startswith(b"BDAT") \
                else self.timeouts.command
            replies.append(await self._reply(last_timeout))
        return replies

    async def flush_and_reply(self, timeout):
        await self.drain()
        return await self._reply(timeout)

    # The reads and drains of a transaction use asyncio.timeout(), which arms
    # a timer on the running task, rather than wait_for(), which (before
    # Python 3.12) makes a task of each: several per message.

    async def drain(self):
        try:
            async with asyncio.timeout(self.timeouts.command):
                await self.writer.drain()
        except (OSError, asyncio.TimeoutError) as exc:
            raise SessionBroken(f"lost connection: {_why(exc)}") from None

    async def _reply(self, timeout):
        """One reply, its lines joined by newlines (RFC 5321 4.2.1); `timeout`
        is for the whole reply."""
        try:
            async with asyncio.timeout(timeout):
                return await self._reply_lines()
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            raise SessionBroken(f"lost connection: {_why(exc)}") from None

    async def _reply_lines(self):
        lines = []
        while True:
            line = await self.reader.readline()
            if not line.endswith(b"\n"):
                raise SessionBroken("lost connection: the server closed it")
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                raise SessionBroken(f"not an SMTP reply: {text[:80]!r}")
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def close(self):
        """QUIT, then close, and return once the socket is closed (a TLS one
        after its close_notify), so that a connection limit counts sockets,
        not sessions; a peer that is gone is no error."""
        try:
            await self.command("QUIT")
        except SessionBroken:
            pass
        self.abort()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), self.timeouts.command)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            pass

    def abort(self):
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass


@functools.lru_cache(maxsize=None)
def opportunistic():
    """The policy of a host without one."""
    return HostTls("opportunistic", False, opportunistic_context())


def _extensions(text):
    """RFC 5321 4.1.1.1: the EHLO reply's lines after the first are keywords
    with parameters."""
    found = {}
    for line in text.split("\n")[1:]:
        keyword, _, params = line.strip().partition(" ")
        found[keyword.upper()] = params
    return found


def _status_class(reply):
    return "5" if reply.code >= 500 else "4"


def _why(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
