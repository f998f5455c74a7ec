"""One POP3 session: the command loop, the states, the error budget, the output.

A command is a keyword and its arguments on one line (RFC 1939 3); the keyword is
looked up in COMMANDS, which says in which states it is allowed (AUTHORIZATION,
TRANSACTION; RFC 1939 4 to 6), and the verb, a plain function of a part module
(auth, transaction), answers it. Answers to pipelined commands (RFC 2449 6.6) are
gathered and sent once no further command is waiting.

Failure policy: a verb's Pop3Error becomes its -ERR and the session goes on;
the client's protocol errors (Bad) count, and max_errors of them end the session,
as do silence beyond the autologout timer (RFC 1939 3) and a few failed logins.
A disk or index failure is `-ERR [SYS/TEMP]` with one log line; any other
exception is a bug: logged with its traceback, answered `-ERR [SYS/TEMP]` and
counted. A session that ends without QUIT deletes nothing (RFC 1939 6).
"""

import asyncio
import logging
import ssl

from ..core import server
from ..core.mailservice import StoreError
from ..core.stream import LineTooLong, StreamClosed, TLSHandshakeFailed
from . import auth, transaction
from .replies import Bad, Closing, Err, Pop3Error, err, ok

log = logging.getLogger("pop3d")

AUTHORIZATION, TRANSACTION = "AUTHORIZATION", "TRANSACTION"
# RFC 2449 4 bounds a command line at 255 octets, but a password may be longer
# (core.login takes up to 1024 characters), and so may its SASL response.
MAX_LINE = 8192
PREAUTH_TIMEOUT = 60    # seconds; RFC 1939 3's ten minutes once logged in
FLUSH_SIZE = 256 * 1024

COMMANDS = {
    "CAPA": (auth.capa, {AUTHORIZATION, TRANSACTION}),
    "QUIT": (transaction.quit, {AUTHORIZATION, TRANSACTION}),
    "STLS": (auth.stls, {AUTHORIZATION}),
    "USER": (auth.user, {AUTHORIZATION}),
    "PASS": (auth.password, {AUTHORIZATION}),
    "AUTH": (auth.authenticate, {AUTHORIZATION}),
    "APOP": (auth.apop, {AUTHORIZATION}),
    "STAT": (transaction.stat, {TRANSACTION}),
    "LIST": (transaction.list_messages, {TRANSACTION}),
    "UIDL": (transaction.uidl, {TRANSACTION}),
    "RETR": (transaction.retr, {TRANSACTION}),
    "TOP": (transaction.top, {TRANSACTION}),
    "DELE": (transaction.dele, {TRANSACTION}),
    "RSET": (transaction.rset, {TRANSACTION}),
    "NOOP": (transaction.noop, {TRANSACTION}),
}


async def serve(ctx, stream, name):
    await Session(ctx, stream).run()


class Session:
    def __init__(self, ctx, stream):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.mail = ctx.mail
        self.stream = stream
        self.ip = server.peer_ip(stream)
        self.state = AUTHORIZATION
        self.user_name = None       # given by USER, waiting for PASS
        self.user = None            # the address, once logged in
        self.store = None
        self.lock = None
        self.drop = None            # the Maildrop, once logged in
        self.errors = 0
        self.failed_logins = 0
        self.retrieved = 0          # messages sent whole (RETR)
        self.removed = 0            # messages deleted at QUIT
        self.out = bytearray()
        self.done = False
        self.waiting = False        # for a command: safe to interrupt
        self.task = None
        self.end_reason = "disconnected"

    async def run(self):
        self.write(ok(f"{self.cfg.server.hostname} POP3 ready"))
        self.task = asyncio.current_task()
        self.ctx.sessions.add(self)
        try:
            while not self.done:
                await self.next_command()
        except Closing as exc:
            self.end_reason = exc.text
            self.write(err(exc.text, exc.code))
        except TLSHandshakeFailed as exc:
            self.end_reason = f"TLS handshake failed: {exc}"
        except (StreamClosed, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.ctx.sessions.discard(self)
            await self.end()

    async def next_command(self):
        if self.ctx.stopping:
            raise Closing("server shutting down", "SYS/TEMP")
        if b"\n" not in self.stream.buffer or len(self.out) > FLUSH_SIZE:
            await self.flush()
        try:
            self.waiting = True
            line = await self.stream.readline(MAX_LINE, timeout=self.timeout())
        except LineTooLong:
            return self.fail(Bad("line too long"))
        except TimeoutError:
            raise Closing("autologout; idle for too long") from None
        finally:
            self.waiting = False
        return await self.execute(line)

    async def execute(self, raw):
        try:
            verb, arg = self.verb(raw)
            await verb(self, arg)
        except Pop3Error as exc:
            self.fail(exc)
        except StoreError as exc:
            # The disk or the index failed (a full disk): nothing was changed.
            log.error("%s: mailbox store failed: %s", self.who(), exc)
            self.fail(Err("mailbox temporarily unavailable", "SYS/TEMP"))
        except (Closing, StreamClosed, ConnectionError, ssl.SSLError):
            raise
        except Exception:
            # The keyword only: the rest may be a password (PASS, AUTH).
            log.exception("%s: %r failed", self.who(), bytes(raw.split(b" ", 1)[0][:8]))
            # Counted, so that a client cannot make a bug log tracebacks forever.
            self.fail(Bad("internal server error", "SYS/TEMP"))

    def verb(self, raw):
        """(the function, its argument text) for a command line, after the state
        check. RFC 1939 3: a keyword of ASCII letters in any case; a non-ASCII
        letter must not upper-case into one ("ſtat" is not STAT)."""
        try:
            line = raw.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError:
            raise Bad("command is not UTF-8") from None
        keyword, _, arg = line.partition(" ")
        entry = COMMANDS.get(keyword.upper()) if keyword.isascii() else None
        if entry is None:
            raise Bad("unknown command")
        verb, states = entry
        if self.state not in states:
            raise Bad(f"{keyword.upper()} is not allowed in the {self.state} state")
        return verb, arg

    def fail(self, exc):
        self.write(exc.line())
        if exc.counted:
            self.errors += 1
            if self.errors >= self.cfg.pop3d.max_errors:
                raise Closing("too many errors")

    # output

    def write(self, data):
        self.out += data

    def answer(self, text=""):
        self.out += ok(text)

    async def flush(self):
        if self.out:
            self.stream.write(bytes(self.out))
            self.out.clear()
        await self.drain()

    async def send(self, data):
        """Message data, after what is gathered, and drained, so that a client
        pipelining RETRs never has more than one message waiting in memory. A
        large one is written as it is rather than copied into the output."""
        if len(data) < FLUSH_SIZE:
            self.out += data
        else:
            if self.out:
                self.stream.write(bytes(self.out))
                self.out.clear()
            self.stream.write(data)
        await self.flush()

    async def drain(self):
        """Wait for the client to take what was sent, within the timer: a client
        that stops reading must not hold the session, and its mailbox, for ever."""
        try:
            async with asyncio.timeout(self.timeout()):
                await self.stream.drain()
        except TimeoutError:
            self.end_reason = "client stopped reading"
            self.stream.abort()
            raise StreamClosed() from None

    async def readline(self):
        """One line of a SASL exchange, under the timer."""
        try:
            return await self.stream.readline(MAX_LINE, timeout=self.timeout())
        except LineTooLong:
            raise Bad("line too long") from None
        except TimeoutError:
            raise Closing("autologout; idle for too long") from None

    # state

    def timeout(self):
        limit = self.cfg.pop3d.idle_timeout
        return limit if self.user else min(limit, PREAUTH_TIMEOUT)

    def logged_in(self, address, store, lock, drop):
        self.user, self.store, self.lock, self.drop = address, store, lock, drop
        self.state = TRANSACTION

    def who(self):
        return f"user={self.user or '-'} ip={self.ip or '-'}"

    async def let_go(self):
        """Release the mailbox: the lock first, so that the client's next session
        finds it free as soon as this one has answered."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.store is not None:
            store, self.store = self.store, None
            await self.mail.release(store)

    async def end(self):
        try:
            await self.flush()
        except (StreamClosed, ConnectionError, ssl.SSLError):
            pass
        await self.let_go()
        if self.user:
            log.info("logout: %s reason=%s retrieved=%d deleted=%d", self.who(),
                     self.end_reason, self.retrieved, self.removed)
        elif self.end_reason not in ("disconnected", "quit"):
            log.info("session ended: ip=%s reason=%s", self.ip or "-", self.end_reason)
