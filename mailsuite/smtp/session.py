"""The SMTP server session (RFC 5321) shared by smtpd and submitd.

A session reads one command at a time and answers it; each verb is a method that
reads top to bottom, one check per paragraph. What differs between the MX and the
submission service (who may be a recipient, what goes on top of an accepted message,
where it is queued, AUTH) lives in the subclass's hooks: `check_sender`,
`check_recipient`, `incoming`, `filter_head`, `top_fields`, `queue_info`, `queue_options`,
`before_queue`, `queued`. The limits come from the configuration section of the
daemon that runs the engine (`section`: [smtpd], [submitd]).

Extensions: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS,
DSN (RFC 3461), CHUNKING (RFC 3030) and, in a TLS session, REQUIRETLS (RFC 8689).
The message comes by DATA or by BDAT chunks; either way it goes to the spool as it
arrives (mailsuite.smtp.incoming), under the same checks.

Failure policy: a ProtocolError raised anywhere becomes the reply; an unexpected
exception becomes "451 4.3.0" and a logged traceback, and the session goes on. A
client that goes away, stalls, fails the TLS handshake or makes too many errors
(5yz replies) ends the session with one short log line. A message is acknowledged
with 250 only after `accept` returned, which the services implement as "durable in
the spool".
"""

import asyncio
import logging

from ..core.server import peer_ip
from ..core.spool import Options
from ..core.stream import LineTooLong, StreamClosed, TLSHandshakeFailed
from ..core.tls import TLSUnavailable
from . import chunking, headers, params
from . import data as msgdata
from .address import Path, parse_path
from .errors import ProtocolError
from .params import Envelope

log = logging.getLogger("smtp")

# RFC 5321 4.5.3.1.4 sets 512 octets for a command line; extensions (SIZE, SMTPUTF8
# and friends) make longer lines legitimate, so allow what Postfix allows.
MAX_COMMAND_LINE = 2048


class Session:
    protocol = "ESMTP"
    section = "smtpd"       # the configuration section that holds the limits

    def __init__(self, stream, cfg, credentials=None, name="smtp"):
        self.stream = stream
        self.cfg = cfg
        self.limits = getattr(cfg, self.section)
        self.credentials = credentials
        self.hostname = cfg.server.hostname
        self.name = name
        self.client_ip = peer_ip(stream)
        self.helo = None
        self.esmtp = False
        self.envelope = None
        self.chunked = None         # a Chunked while BDAT chunks arrive
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
        finally:
            self.reset()
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

    def incoming(self, envelope):
        """The smtp.incoming.Incoming that takes the message of `envelope`."""
        raise ProtocolError(451, "4.3.0", "no queue configured")

    def filter_head(self, head):
        """The message's first octets `head` (its header section whole) as they
        go to the queue: a service may drop header fields from it."""
        return head

    def top_fields(self, qid, envelope, head):
        """The header fields to put on top of the message, whose header section
        (or its first max_header_size octets) is `head`."""
        return self.received_header(qid, envelope)

    def queue_info(self):
        """The `info` of the queue record."""
        return {"client": self.client_ip, "helo": self.helo}

    def queue_options(self, envelope):
        return Options(envid=envelope.envid, ret=envelope.ret,
                       requiretls=envelope.requiretls)

    async def before_queue(self, incoming):
        """The last look at the whole message before it is queued."""

    def queued(self, qid, envelope, incoming):
        """The message is durable in the queue: log it, wake the queue runner."""

    def ehlo_keywords(self):
        words = ["PIPELINING", f"SIZE {self.limits.max_message_size}", "8BITMIME",
                 "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "CHUNKING"]
        if not self.stream.tls and self.credentials and self.credentials.available():
            words.append("STARTTLS")
        if self.stream.tls:
            # RFC 8689 4: REQUIRETLS is offered only in a TLS session.
            words.append("REQUIRETLS")
        return words

    def reset(self):
        """End the mail transaction, dropping a message half received."""
        self.envelope = None
        if self.chunked is not None:
            self.chunked.incoming.discard()
            self.chunked = None

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
        self.reset()            # RFC 5321 4.1.4: EHLO resets like RSET

    async def smtp_MAIL(self, arg):
        # RFC 5321 4.1.4: MAIL needs a greeting and no transaction in progress.
        if self.helo is None:
            raise ProtocolError(503, "5.5.1", "send EHLO first")
        if self.envelope is not None:
            raise ProtocolError(503, "5.5.1", "nested MAIL command")
        if not arg.upper().startswith("FROM:"):
            raise ProtocolError(501, "5.5.4", "syntax: MAIL FROM:<address>")
        path, given = parse_path(arg[5:], allow_null=True)
        envelope = Envelope()
        params.mail_params(self, envelope, given)
        # RFC 6531 3.4: a non-ASCII address needs the SMTPUTF8 parameter.
        if not path.ascii and not envelope.smtputf8:
            raise ProtocolError(553, "5.6.7", "non-ASCII address without SMTPUTF8")
        await self.check_sender(path, params)
        envelope.sender = path
        self.envelope = envelope
        self.reply("250 2.1.0 Ok")

    def handle_mail_param(self, name, value):
        """Take a MAIL parameter the engine does not know: True if taken."""
        return False

    async def smtp_RCPT(self, arg):
        if self.envelope is None:
            raise ProtocolError(503, "5.5.1", "need MAIL before RCPT")
        if not arg.upper().startswith("TO:"):
            raise ProtocolError(501, "5.5.4", "syntax: RCPT TO:<address>")
        path, given = parse_path(arg[3:], allow_postmaster=True)
        dsn = params.rcpt_params(self, given)
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
        if dsn:
            # A recipient named twice keeps its first parameters, as the queue
            # keeps its first entry.
            self.envelope.dsn.setdefault(str(path), dsn)
        self.reply("250 2.1.5 Ok")

    async def smtp_DATA(self, arg):
        if arg.strip():
            raise ProtocolError(501, "5.5.4", "syntax: DATA takes no argument")
        if self.envelope is None:
            raise ProtocolError(503, "5.5.1", "need MAIL before DATA")
        # RFC 3030 3: DATA and BDAT are not mixed in one transaction.
        if self.chunked is not None:
            raise ProtocolError(503, "5.5.1", "DATA after BDAT: send RSET")
        if not self.envelope.recipients:
            # RFC 2920 3.1: with pipelining, DATA after failed RCPTs gets 554.
            raise ProtocolError(554, "5.5.1", "no valid recipients")
        incoming = self.incoming(self.envelope)
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        await self.flush()
        envelope, self.envelope = self.envelope, None
        data = msgdata.read(self.stream, self.limits)
        try:
            async for piece in data:
                await incoming.write(piece)
            qid = await incoming.commit()
        except Exception:
            # The reply comes after the end of the data, whatever went wrong:
            # the rest of the message must not be read as commands.
            async for _ in data:
                pass
            raise
        finally:
            incoming.discard()
        self.queued(qid, envelope, incoming)
        self.reply(f"250 2.0.0 Ok: queued as {qid}")

    async def smtp_BDAT(self, arg):
        chunk = chunking.parse(arg)
        loop = asyncio.get_running_loop()
        deadline = (self.chunked.deadline if self.chunked is not None
                    else loop.time() + self.limits.data_timeout)
        octets = chunking.pieces(self.stream, chunk.size, deadline)
        try:
            qid = await self._take_chunk(chunk, octets, deadline)
        except Exception:
            # RFC 3030 2: the chunk's octets are read whatever the answer, and
            # a failed chunk ends the transaction (later chunks get 503).
            async for _ in octets:
                pass
            self.reset()
            raise
        if qid is None:
            self.reply(f"250 2.0.0 {chunk.size} octets received")
            return
        envelope, incoming = self.envelope, self.chunked.incoming
        self.reset()
        self.queued(qid, envelope, incoming)
        self.reply(f"250 2.0.0 Ok: queued as {qid}")

    async def _take_chunk(self, chunk, octets, deadline):
        """Take a chunk's octets; the queue id once the last chunk is queued."""
        if self.envelope is None:
            raise ProtocolError(503, "5.5.1", "need MAIL before BDAT")
        if not self.envelope.recipients:
            raise ProtocolError(554, "5.5.1", "no valid recipients")
        if self.chunked is None:
            self.chunked = chunking.Chunked(self.incoming(self.envelope),
                                            self.limits, deadline)
        return await self.chunked.take(chunk, octets)

    async def smtp_RSET(self, arg):
        self.reset()
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
        self.reset()

    # helpers for services

    def received_header(self, qid, envelope, client=True):
        """The Received field (RFC 5321 4.4) for a message accepted here; with
        `client` false, without the client's name and address."""
        proto = "UTF8SMTP" if envelope.smtputf8 else (self.protocol if self.esmtp else "SMTP")
        return headers.received(
            self.hostname, qid, proto + self.protocol_suffix(),
            (self.helo, self.client_ip) if client else None,
            self.stream.tls_info(), envelope.recipients)

    def protocol_suffix(self):
        """RFC 3848: "S" for a TLS session ("A" after AUTH: submitd's)."""
        return "S" if self.stream.tls else ""
