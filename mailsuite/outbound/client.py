"""The SMTP client of outbound delivery: one session with one mail host, which
carries several messages in turn, each to several recipients, and gives an
outcome for every recipient.

    session = await Session.open(host, port, helo_name, timeouts)
    outcomes = await session.send(message)     # {address: Outcome}
    await session.close()                      # QUIT, then the socket

The session speaks what the peer offers (RFC 5321 EHLO, HELO when EHLO is
refused): STARTTLS (RFC 3207) whenever offered, without checking the
certificate (opportunistic TLS, RFC 7435 3), and again in plain text if the
handshake fails; PIPELINING (RFC 2920) for MAIL and RCPT; SIZE (RFC 1870);
8BITMIME (RFC 6152); SMTPUTF8 (RFC 6531); CHUNKING (RFC 3030: BDAT, so the
message goes as it is, without dot-stuffing); DSN (RFC 3461: RET, ENVID,
NOTIFY, ORCPT passed on). Where the peer lacks what a message needs, the
message is not sent and its recipients fail: an 8-bit message to a peer
without 8BITMIME (5.6.3: we return it rather than downgrade it), a UTF-8
address to a peer without SMTPUTF8 (5.6.7, RFC 6531 3.2), a message over the
peer's SIZE (5.3.4).

Failure policy: a connection that cannot be made, or a greeting that refuses
service, raises DeliveryFailed (the caller tries the next address); a session
that breaks or times out in a transaction raises SessionBroken, and the
message's recipients without a reply yet are deferred (4.4.2).
"""

import asyncio
import ssl
from typing import NamedTuple

from .message import BDAT_CHUNK, Outgoing
from .status import DeliveryFailed, Outcome

__all__ = ["Session", "SessionBroken", "Timeouts", "Outgoing"]

REPLY_TEXT_MAX = 512          # characters of a peer's reply kept for logs and DSNs
LINE_MAX = 4096               # the longest reply line read (RFC 5321 4.5.3.1.5: 512)


class Timeouts(NamedTuple):
    connect: float            # the connection and the greeting
    command: float            # each reply
    final: float              # the reply after the message data


class SessionBroken(Exception):
    """The session ended in the middle of a transaction."""


class Reply(NamedTuple):
    code: int
    text: str

    @property
    def ok(self):
        return 200 <= self.code < 400


class Session:
    def __init__(self, reader, writer, host, address, timeouts):
        self.reader, self.writer = reader, writer
        self.host, self.address = host, address
        self.timeouts = timeouts
        self.extensions = {}      # EHLO keyword -> its parameters
        self.tls = False

    @property
    def remote(self):
        """The peer as Postfix names it in logs and Remote-MTA: name[address]."""
        return f"{self.host}[{self.address}]"

    @classmethod
    async def open(cls, host, address, port, helo_name, timeouts, tls=True):
        """A session with `host` at `address`, greeted and EHLO'd (STARTTLS done
        when offered); raises DeliveryFailed."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, limit=LINE_MAX),
                timeouts.connect)
        except (OSError, asyncio.TimeoutError) as exc:
            raise DeliveryFailed("4.4.1", f"connect to {host}[{address}]:{port}: "
                                          f"{_why(exc)}") from None
        session = cls(reader, writer, host, address, timeouts)
        try:
            await session._start(helo_name, timeouts.connect, tls)
        except SessionBroken as exc:
            session.abort()
            if tls and session.tls is None:
                # RFC 7435 3: opportunistic TLS falls back to plain text.
                return await cls.open(host, address, port, helo_name, timeouts,
                                      tls=False)
            raise DeliveryFailed("4.4.2", f"{session.remote}: {exc}") from None
        except DeliveryFailed:
            session.abort()
            raise
        return session

    async def _start(self, helo_name, timeout, tls):
        greeting = await self._reply(timeout)
        # RFC 5321 3.1: a server that will not serve greets with 554 (or 421).
        if not greeting.ok:
            raise DeliveryFailed(_status_class(greeting) + ".0.0",
                                 f"{self.remote} refused service: {_show(greeting)}")
        await self._hello(helo_name)
        if tls and "STARTTLS" in self.extensions:
            reply = await self.command("STARTTLS")
            if reply.code == 220:
                self.tls = None           # in the handshake
                await self._starttls()
                self.tls = True
                await self._hello(helo_name)   # RFC 3207 4.2: forget and ask again

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
                                 f"{self.remote} refused HELO: {_show(reply)}")

    async def _starttls(self):
        context = ssl.create_default_context()
        # RFC 7435 3: opportunistic TLS encrypts without authenticating.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            await asyncio.wait_for(self.writer.start_tls(
                context, server_hostname=self.host), self.timeouts.command)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            raise SessionBroken(f"TLS handshake failed: {_why(exc)}") from None

    # one message

    async def send(self, message):
        """Send one message; returns {recipient address: Outcome}. Raises
        SessionBroken; the recipients of the message then have no outcome."""
        refused = self._refusal(message)
        if refused is not None:
            return {r.address: refused for r in message.recipients}
        outcomes, accepted = await self._envelope(message)
        if not accepted:
            await self.command("RSET")
            return outcomes
        reply = await self._body(message)
        for address in accepted:
            outcomes[address] = Outcome.from_reply(reply.code, _show(reply, False),
                                                   self.remote)
        return outcomes

    def _refusal(self, message):
        """The outcome of every recipient when this peer cannot take the
        message, else None."""
        limit = self.extensions.get("SIZE", "")
        # RFC 1870 6: a message over the server's fixed limit would be refused.
        if limit.isdigit() and 0 < int(limit) < message.size:
            return Outcome("failed", "5.3.4", f"message size {message.size} exceeds "
                           f"the limit of {self.remote}, {limit}", self.remote)
        # RFC 6152 3: 8-bit data only to a server that offers 8BITMIME.
        if message.eight_bit and "8BITMIME" not in self.extensions:
            return Outcome("failed", "5.6.3", f"{self.remote} does not accept 8-bit "
                           "messages (no 8BITMIME)", self.remote)
        # RFC 6531 3.2: UTF-8 addresses only to a server that offers SMTPUTF8.
        if message.utf8 and "SMTPUTF8" not in self.extensions:
            return Outcome("failed", "5.6.7", f"{self.remote} does not accept UTF-8 "
                           "addresses (no SMTPUTF8)", self.remote)
        return None

    async def _envelope(self, message):
        """MAIL and RCPT, pipelined when the peer allows. Returns the outcomes of
        the refused recipients and the list of accepted ones."""
        commands = [self._mail_command(message)]
        commands += [self._rcpt_command(r) for r in message.recipients]
        if "PIPELINING" in self.extensions:
            replies = await self.pipeline(commands)
        else:
            replies = []
            for command in commands:
                replies.append(await self.command(command))
                if not replies[0].ok:
                    break
        mail, rcpts = replies[0], replies[1:]
        if not mail.ok:
            outcome = Outcome.from_reply(mail.code, _show(mail, False), self.remote)
            return {r.address: outcome for r in message.recipients}, []
        outcomes, accepted = {}, []
        for rcpt, reply in zip(message.recipients, rcpts):
            if reply.ok:
                accepted.append(rcpt.address)
            else:
                outcomes[rcpt.address] = Outcome.from_reply(
                    reply.code, _show(reply, False), self.remote)
        return outcomes, accepted

    def _mail_command(self, message):
        params = []
        if "SIZE" in self.extensions:
            params.append(f"SIZE={message.size}")
        if message.eight_bit:
            params.append("BODY=8BITMIME")
        if message.utf8:
            params.append("SMTPUTF8")
        if "DSN" in self.extensions:
            # RFC 3461 4.3, 4.4: the sender's wishes go on to the next hop.
            if message.ret:
                params.append(f"RET={message.ret}")
            if message.envid:
                params.append(f"ENVID={xtext(message.envid)}")
        return " ".join([f"MAIL FROM:<{message.sender}>"] + params)

    def _rcpt_command(self, rcpt):
        params = []
        if "DSN" in self.extensions:
            # RFC 3461 4.1, 4.2
            if rcpt.notify:
                params.append(f"NOTIFY={','.join(rcpt.notify)}")
            if rcpt.orcpt:
                kind, _, address = rcpt.orcpt.partition(";")
                params.append(f"ORCPT={kind};{xtext(address)}")
        return " ".join([f"RCPT TO:<{rcpt.address}>"] + params)

    async def _body(self, message):
        if "CHUNKING" in self.extensions:
            return await self._bdat(message)
        reply = await self.command("DATA")
        if reply.code != 354:
            return reply
        async for piece in message.stuffed():
            self.writer.write(piece)
            await self._drain()
        self.writer.write(b".\r\n")
        return await self._flush_and_reply(self.timeouts.final)

    async def _bdat(self, message):
        """RFC 3030 2: the message in BDAT chunks, the last one marked LAST;
        each chunk's reply is read before the next is sent."""
        sent, reply = 0, None
        async for chunk in message.chunks(BDAT_CHUNK):
            sent += len(chunk)
            last = " LAST" if sent >= message.size else ""
            self.writer.write(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            reply = await self._flush_and_reply(
                self.timeouts.final if last else self.timeouts.command)
            if not reply.ok or last:
                return reply
        self.writer.write(b"BDAT 0 LAST\r\n")
        return await self._flush_and_reply(self.timeouts.final)

    # the wire

    async def command(self, line):
        self.writer.write(line.encode("utf-8") + b"\r\n")
        return await self._flush_and_reply(self.timeouts.command)

    async def pipeline(self, lines):
        """RFC 2920 3.1: the commands in one write, then their replies in order."""
        self.writer.write(b"".join(line.encode("utf-8") + b"\r\n" for line in lines))
        await self._drain()
        return [await self._reply(self.timeouts.command) for _ in lines]

    async def _flush_and_reply(self, timeout):
        await self._drain()
        return await self._reply(timeout)

    async def _drain(self):
        try:
            await asyncio.wait_for(self.writer.drain(), self.timeouts.command)
        except (OSError, asyncio.TimeoutError) as exc:
            raise SessionBroken(f"lost connection: {_why(exc)}") from None

    async def _reply(self, timeout):
        """One reply, its lines joined by newlines (RFC 5321 4.2.1)."""
        lines = []
        while True:
            try:
                line = await asyncio.wait_for(self.reader.readline(), timeout)
            except (OSError, ValueError, asyncio.TimeoutError) as exc:
                raise SessionBroken(f"lost connection: {_why(exc)}") from None
            if not line.endswith(b"\n"):
                raise SessionBroken("lost connection: the server closed it")
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                raise SessionBroken(f"not an SMTP reply: {text[:80]!r}")
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def close(self):
        """QUIT, then close; a peer that is gone is no error."""
        try:
            await self.command("QUIT")
        except SessionBroken:
            pass
        self.abort()

    def abort(self):
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass


def _extensions(text):
    """RFC 5321 4.1.1.1: the EHLO reply's lines after the first are keywords
    with parameters."""
    found = {}
    for line in text.split("\n")[1:]:
        keyword, _, params = line.strip().partition(" ")
        found[keyword.upper()] = params
    return found


def xtext(text):
    """RFC 3461 4: "+" and "=", controls and non-ASCII as "+HH"."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else
                   "".join(f"+{b:02X}" for b in c.encode("utf-8")) for c in text)


def _status_class(reply):
    return "5" if reply.code >= 500 else "4"


def _show(reply, with_code=True):
    """A reply on one line, bounded, for logs and notices."""
    text = reply.text.replace("\n", " ")[:REPLY_TEXT_MAX]
    return f"{reply.code} {text}" if with_code else text


def _why(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
