"""The SMTP server session (RFC 5321) shared by smtpd and submitd.

A session reads one command at a time and answers it; each verb is a method that
reads top to bottom, one check per paragraph. What differs between the MX and the
submission service (who may be a recipient, what happens to an accepted message,
AUTH) lives in the subclass's hooks: `check_sender`, `check_recipient`, `accept`.

Failure policy: a ProtocolError raised anywhere becomes the reply; an unexpected
exception becomes "451 4.3.0" and a logged traceback, and the session goes on. A
client that goes away, stalls, fails the TLS handshake or makes too many errors
(5yz replies) ends the session with one short log line. A message is acknowledged
with 250 only after `accept` returned, which the services implement as "durable in
the spool".
"""

import asyncio
import logging
import time
from email.utils import formatdate

from ..core.server import peer_ip
from ..core.stream import LineTooLong, StreamClosed, TLSHandshakeFailed
from ..core.tls import TLSUnavailable
from . import data as msgdata
from .address import Path, parse_path
from .errors import ProtocolError

log = logging.getLogger("smtp")

# RFC 5321 4.5.3.1.4 sets 512 octets for a command line; extensions (SIZE, SMTPUTF8
# and friends) make longer lines legitimate, so allow what Postfix allows.
MAX_COMMAND_LINE = 2048
MAX_HOPS = 100   # RFC 5321 6.3: a loop shows as too many Received fields


_date = (0, "")


def _date_now():
    """The RFC 5322 date of this second (formatting it per message is costly)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, localtime=True))
    return _date[1]


class Envelope:
    def __init__(self):
        self.sender = None          # a Path once MAIL succeeded
        self.recipients = []        # [Path]
        self.smtputf8 = False
        self.body = "7BIT"


class Session:
    protocol = "ESMTP"

    def __init__(self, stream, cfg, credentials=None, name="smtp"):
        self.stream = stream
        self.cfg = cfg
        self.limits = cfg.smtpd
        self.credentials = credentials
        self.hostname = cfg.server.hostname
        self.name = name
        self.client_ip = peer_ip(stream)
        self.helo = None
        self.esmtp = False
        self.envelope = None
        self.errors = 0
        self.out = []
        self.done = False
        self.verb = "CONNECT"       # the last command, for the log

    # the session loop

    async def run(self):
        self.reply(f"220 {self.hostname} ESMTP mailsuite")
        log.info("connect from [%s]", self.client_ip)
        try:
            await self.serve()
        except TLSHandshakeFailed as exc:
            log.info("TLS handshake failed from [%s]: %s", self.client_ip, exc)
        except StreamClosed:
            log.info("lost connection after %s from [%s]", self.verb, self.client_ip)
        log.info("disconnect from [%s]", self.client_ip)

    async def serve(self):
        while not self.done:
            line = await self.read_command()
            if line is None:
                break
            await self.dispatch(line)
        await self.flush()

    async def read_command(self):
        # RFC 2920 3.1: replies to pipelined commands may be sent together; send
        # them when no further command is waiting in the buffer.
        if b"\n" not in self.stream.buffer:
            await self.flush()
        # RFC 5321 4.5.3.2.7: the server waits at least 5 minutes for a command.
        # The whole line must come within that time, so a client that trickles a
        # byte at a time cannot hold the session open forever.
        try:
            return await self.stream.readline(MAX_COMMAND_LINE,
                                              timeout=self.limits.command_timeout)
        except LineTooLong:
            self.fail(ProtocolError(500, "5.5.2", "line too long"))
            return b""
        except TimeoutError:
            self.fail(ProtocolError(421, "4.4.2", "timeout exceeded", close=True))
            return None

    async def dispatch(self, raw):
        if not raw:
            return
        try:
            line = raw.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError:
            self.verb = "UNKNOWN"
            return self.fail(ProtocolError(500, "5.5.2", "command is not UTF-8"))
        verb, _, arg = line.partition(" ")
        handler = self.handler(verb)
        self.verb = verb.upper() if handler else "UNKNOWN"
        try:
            if handler is None:
                raise ProtocolError(500, "5.5.2", "command not recognized")
            await handler(arg)
        except ProtocolError as exc:
            self.fail(exc)
        except StreamClosed:
            raise               # the client is gone: nobody to answer; run() logs it
        except Exception:
            log.exception("[%s]: %s failed", self.client_ip, self.verb)
            # Counted, so that a client cannot make a bug log tracebacks forever.
            self.fail(ProtocolError(451, "4.3.0", "internal error, try again later",
                                    counted=True))

    def handler(self, verb):
        """The method for `verb`, or None. RFC 5321 2.4 and 4.1.1: verbs are ASCII
        letters in any case; a non-ASCII letter must not upper-case into one
        ("ſtarttls" is not STARTTLS)."""
        if not (verb.isascii() and verb.isalpha()):
            return None
        return getattr(self, "smtp_" + verb.upper(), None)

    def reply(self, text):
        self.out.append(text.encode() + b"\r\n")

    def fail(self, exc):
        """Answer with `exc`'s reply and count the error; end the session if the
        reply says so or if the client has made too many errors."""
        self.reply(exc.reply())
        # RFC 5321 4.2.1: only the client's mistakes count (ProtocolError.counted).
        if exc.counted:
            self.errors += 1
        if not exc.close and self.errors >= self.limits.max_errors:
            exc = ProtocolError(421, "4.7.0", "too many errors", close=True)
            self.reply(exc.reply())
        if exc.close:
            log.info("%s after %s from [%s]", exc.text, self.verb, self.client_ip)
            self.done = True

    async def flush(self):
        if self.out:
            self.stream.write(b"".join(self.out))
            self.out.clear()
            await self.stream.drain()

    # hooks for the services

    async def check_sender(self, path, params):
        """Raise ProtocolError to refuse MAIL FROM."""

    async def check_recipient(self, path):
        """Raise ProtocolError to refuse RCPT TO."""
        raise ProtocolError(554, "5.7.1", "relay denied")

    async def postmaster_domain(self):
        """The domain whose postmaster a bare RCPT TO:<Postmaster> reaches."""
        raise ProtocolError(550, "5.1.1", "<Postmaster>: user unknown")

    async def accept(self, envelope, data):
        """Take the message from `data`, an async iterator of its pieces as they
        arrive (it raises ProtocolError at its end if the message broke a limit),
        make it durable and return its queue id."""
        raise ProtocolError(451, "4.3.0", "no queue configured")

    def ehlo_keywords(self):
        words = ["PIPELINING", f"SIZE {self.limits.max_message_size}", "8BITMIME",
                 "SMTPUTF8", "ENHANCEDSTATUSCODES"]
        if not self.stream.tls and self.credentials and self.credentials.available():
            words.append("STARTTLS")
        return words

    # the verbs

    async def smtp_EHLO(self, arg):
        await self._hello(arg, esmtp=True)
        keywords = self.ehlo_keywords()
        lines = [f"{self.hostname}"] + keywords
        for i, text in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.reply(f"250{sep}{text}")

    async def smtp_HELO(self, arg):
        await self._hello(arg, esmtp=False)
        self.reply(f"250 {self.hostname}")

    async def _hello(self, arg, esmtp):
        arg = arg.strip()
        # RFC 5321 4.1.1.1: EHLO and HELO take a domain or address literal.
        if not arg or " " in arg:
            raise ProtocolError(501, "5.5.4", "syntax: EHLO hostname")
        self.helo = arg[:255]
        self.esmtp = esmtp
        self.envelope = None    # RFC 5321 4.1.4: EHLO resets like RSET

    async def smtp_MAIL(self, arg):
        # RFC 5321 4.1.4: MAIL needs a greeting and no transaction in progress.
        if self.helo is None:
            raise ProtocolError(503, "5.5.1", "send EHLO first")
        if self.envelope is not None:
            raise ProtocolError(503, "5.5.1", "nested MAIL command")
        if not arg.upper().startswith("FROM:"):
            raise ProtocolError(501, "5.5.4", "syntax: MAIL FROM:<address>")
        path, params = parse_path(arg[5:], allow_null=True)
        envelope = Envelope()
        self._mail_params(envelope, params)
        # RFC 6531 3.4: a non-ASCII address needs the SMTPUTF8 parameter.
        if not path.ascii and not envelope.smtputf8:
            raise ProtocolError(553, "5.6.7", "non-ASCII address without SMTPUTF8")
        await self.check_sender(path, params)
        envelope.sender = path
        self.envelope = envelope
        self.reply("250 2.1.0 Ok")

    def _mail_params(self, envelope, params):
        for name, value in params.items():
            if name == "SIZE":
                # RFC 1870 6: refuse a declared size above the limit at once.
                if value is True or not value.isdigit():
                    raise ProtocolError(501, "5.5.4", "syntax: SIZE=number")
                if int(value) > self.limits.max_message_size:
                    raise ProtocolError(552, "5.3.4", "message size exceeds limit")
            elif name == "BODY" and self.esmtp:
                if value not in ("7BIT", "8BITMIME"):
                    raise ProtocolError(501, "5.5.4", "BODY must be 7BIT or 8BITMIME")
                envelope.body = value
            elif name == "SMTPUTF8" and self.esmtp and value is True:
                envelope.smtputf8 = True
            elif not self.handle_mail_param(name, value):
                # RFC 5321 4.1.1.11: an unknown parameter gets 555.
                raise ProtocolError(555, "5.5.4", f"unsupported parameter {name}")

    def handle_mail_param(self, name, value):
        return False

    async def smtp_RCPT(self, arg):
        if self.envelope is None:
            raise ProtocolError(503, "5.5.1", "need MAIL before RCPT")
        if not arg.upper().startswith("TO:"):
            raise ProtocolError(501, "5.5.4", "syntax: RCPT TO:<address>")
        path, params = parse_path(arg[3:], allow_postmaster=True)
        if params:
            raise ProtocolError(555, "5.5.4", "unsupported parameter "
                                + next(iter(params)))
        if not path.domain:
            path = Path(path.local, await self.postmaster_domain())
        if not path.ascii and not self.envelope.smtputf8:
            raise ProtocolError(553, "5.6.7", "non-ASCII address without SMTPUTF8")
        # RFC 5321 4.5.3.1.8: at least 100 recipients must be taken; past our
        # limit answer 452 so the client sends the rest in another transaction.
        if len(self.envelope.recipients) >= self.limits.max_recipients:
            raise ProtocolError(452, "4.5.3", "too many recipients")
        await self.check_recipient(path)
        self.envelope.recipients.append(path)
        self.reply("250 2.1.5 Ok")

    async def smtp_DATA(self, arg):
        if arg.strip():
            raise ProtocolError(501, "5.5.4", "syntax: DATA takes no argument")
        if self.envelope is None:
            raise ProtocolError(503, "5.5.1", "need MAIL before DATA")
        if not self.envelope.recipients:
            # RFC 2920 3.1: with pipelining, DATA after failed RCPTs gets 554.
            raise ProtocolError(554, "5.5.1", "no valid recipients")
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        await self.flush()
        envelope, self.envelope = self.envelope, None
        data = self._read_data()
        try:
            qid = await self.accept(envelope, data)
        except Exception:
            # The reply comes after the end of the data, whatever went wrong:
            # the rest of the message must not be read as commands.
            async for _ in data:
                pass
            raise
        self.reply(f"250 2.0.0 Ok: queued as {qid}")

    async def _read_data(self):
        """The message in pieces as they arrive (data.Decoder), checked at its
        end. Past the size limit the pieces are dropped, and the data is read on
        to its end; data_timeout bounds the whole of it, not each read."""
        decoder = msgdata.Decoder()
        meter = msgdata.Meter(self.limits.max_header_size)
        deadline = asyncio.get_running_loop().time() + self.limits.data_timeout
        while not decoder.done:
            try:
                piece = decoder.feed(await msgdata.receive(self.stream, deadline))
            except TimeoutError:
                raise ProtocolError(421, "4.4.2", "timeout reading data", close=True)
            meter.add(piece)
            if piece and meter.size <= self.limits.max_message_size:
                yield piece
        self.stream.buffer[0:0] = decoder.rest      # pipelined commands after the data
        self._check_data(meter)

    def _check_data(self, meter):
        # RFC 1870 6.3: too large after all is a permanent failure.
        if meter.size > self.limits.max_message_size:
            raise ProtocolError(552, "5.3.4", "message size exceeds limit")
        if msgdata.header_size(meter.head) > self.limits.max_header_size:
            raise ProtocolError(552, "5.3.4", "header section exceeds limit")
        if msgdata.count_received(meter.head, MAX_HOPS) >= MAX_HOPS:
            raise ProtocolError(554, "5.4.6", "too many hops (mail loop?)")

    async def smtp_RSET(self, arg):
        self.envelope = None
        self.reply("250 2.0.0 Ok")

    async def smtp_NOOP(self, arg):
        self.reply("250 2.0.0 Ok")

    async def smtp_QUIT(self, arg):
        self.reply(f"221 2.0.0 {self.hostname} closing")
        self.done = True

    async def smtp_VRFY(self, arg):
        # RFC 5321 3.5.3: 252 says "cannot verify, but will try delivery".
        self.reply("252 2.5.2 cannot VRFY user, but will accept message")

    async def smtp_HELP(self, arg):
        self.reply("214 2.0.0 see RFC 5321")

    async def smtp_STARTTLS(self, arg):
        if self.stream.tls:
            raise ProtocolError(503, "5.5.1", "TLS already active")
        if arg.strip():
            raise ProtocolError(501, "5.5.4", "syntax: STARTTLS takes no argument")
        try:
            ctx = self.credentials.context() if self.credentials else None
        except TLSUnavailable:
            ctx = None
        if ctx is None:
            raise ProtocolError(454, "4.7.0", "TLS not available")
        self.reply("220 2.0.0 Ready to start TLS")
        reply = b"".join(self.out)
        self.out.clear()
        await self.stream.starttls(ctx, reply)
        # RFC 3207 4.2: forget everything learned before TLS; the client EHLOs again.
        self.helo = None
        self.envelope = None

    # helpers for services

    def received_header(self, qid, envelope):
        """The Received field (RFC 5321 4.4) for a message accepted here."""
        proto = "UTF8SMTP" if envelope.smtputf8 else (self.protocol if self.esmtp else "SMTP")
        if self.stream.tls:
            proto += "S"
        tls = ""
        info = self.stream.tls_info()
        if info:
            tls = f"\r\n\t(using {info[0]} with cipher {info[1]})"
        rcpt = ""
        if len(envelope.recipients) == 1:
            rcpt = f"\r\n\tfor <{envelope.recipients[0]}>"
        date = _date_now()
        helo = "".join(ch if 32 < ord(ch) < 127 else "?" for ch in self.helo or "unknown")
        return (f"Received: from {helo} ([{self.client_ip}])\r\n"
                f"\tby {self.hostname} (mailsuite) with {proto} id {qid}{tls}{rcpt};"
                f"\r\n\t{date}\r\n").encode()
