"""imapd: IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) over the Maildir store.

Sockets: `imap` (143; STARTTLS) and `imaps` (993; implicit TLS, RFC 8314). Besides
them, imapd binds `<runtime_dir>/imapd.notify`, where deliverd drops the address of a
user who just got mail, so that sessions in IDLE look at once (see idle.py).

This module holds the session loop: it reads a command, looks it up in COMMANDS,
checks the state (RFC 9051 3) and runs the verb, a plain function in one of the part
modules (auth, extensions, condstore, folders, mailbox, fetch, idle, append, copy,
quota). An APPEND's big message literals go to files as they arrive
(append.receiver). Failure policy: a ProtocolError becomes a tagged NO or BAD and the
session goes on; too many BADs in a row, a literal that cannot be skipped, or silence
beyond the autologout timer end it with BYE; any other exception is logged with its
traceback and answered `NO [SERVERBUG]`, and the session goes on.
"""

import asyncio
import functools
import logging
import ssl
import sys
import traceback

from ..core import accounts, login, server, tls
from ..core.mailfolder import NoSuchFolder
from ..core.mailservice import MailService, StoreError
from ..core.stream import LineTooLong, StreamClosed
from . import (append, auth, context, copy, extensions, fetch, folders, idle, mailbox,
               names, notify, quota, search, sort, thread)
from .errors import Bad, Logout, ProtocolError
from .parser import (MAX_LINE, MAX_LITERAL, MAX_PREAUTH_LITERAL, parse_command,
                     read_command, tag_of)
from .response import ANSWERED, completed, status, untagged

log = logging.getLogger("imapd")

NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT = (
    "not authenticated", "authenticated", "selected", "logout")
ANY = {NOT_AUTHENTICATED, AUTHENTICATED, SELECTED}
LOGGED_IN = {AUTHENTICATED, SELECTED}
MAX_BAD = 10            # BAD answers in a row before the session is ended
PREAUTH_TIMEOUT = 60    # seconds; RFC 9051 5.4 asks 30 minutes only once logged in
# What an internal error logs: the command's first bytes, and a traceback of the
# innermost frames whose every line is cut, since an exception's message may
# hold client input (a 60 MB mailbox name once made one 60 MB log line).
LOGGED_COMMAND = 60     # bytes
LOGGED_FRAMES = 16
LOGGED_LINE = 400       # characters of one traceback line

# name -> (verb, states in which it is allowed); UID FETCH and UID STORE are
# FETCH and STORE with Command.uid set (RFC 9051 6.4.9).
COMMANDS = {
    "CAPABILITY": (auth.capability, ANY),
    "NOOP": (mailbox.noop, ANY),
    "LOGOUT": (auth.logout, ANY),
    "STARTTLS": (auth.starttls, {NOT_AUTHENTICATED}),
    "LOGIN": (auth.login, {NOT_AUTHENTICATED}),
    "AUTHENTICATE": (auth.authenticate, {NOT_AUTHENTICATED}),
    "ID": (extensions.id_command, ANY),
    "ENABLE": (extensions.enable, {AUTHENTICATED}),
    "UNAUTHENTICATE": (extensions.unauthenticate, LOGGED_IN),
    "COMPRESS": (extensions.compress, LOGGED_IN),
    "SELECT": (mailbox.select, LOGGED_IN),
    "EXAMINE": (mailbox.examine, LOGGED_IN),
    "CREATE": (folders.create, LOGGED_IN),
    "DELETE": (folders.delete, LOGGED_IN),
    "RENAME": (folders.rename, LOGGED_IN),
    "SUBSCRIBE": (folders.subscribe, LOGGED_IN),
    "UNSUBSCRIBE": (folders.unsubscribe, LOGGED_IN),
    "LIST": (folders.list_mailboxes, LOGGED_IN),
    "LSUB": (folders.lsub, LOGGED_IN),
    "STATUS": (folders.status, LOGGED_IN),
    "NAMESPACE": (folders.namespace, LOGGED_IN),
    "IDLE": (idle.idle, LOGGED_IN),
    "NOTIFY": (notify.notify, LOGGED_IN),
    "CHECK": (mailbox.noop, {SELECTED}),
    "CLOSE": (mailbox.close, {SELECTED}),
    "UNSELECT": (mailbox.unselect, {SELECTED}),
    "EXPUNGE": (mailbox.expunge, {SELECTED}),
    "FETCH": (fetch.fetch, {SELECTED}),
    "STORE": (mailbox.store, {SELECTED}),
    "APPEND": (append.append, LOGGED_IN),
    "COPY": (copy.copy, {SELECTED}),
    "MOVE": (copy.move, {SELECTED}),
    "GETQUOTA": (quota.getquota, LOGGED_IN),
    "GETQUOTAROOT": (quota.getquotaroot, LOGGED_IN),
    "SEARCH": (search.search, {SELECTED}),
    "SORT": (sort.sort, {SELECTED}),
    "THREAD": (thread.thread, {SELECTED}),
    "CANCELUPDATE": (context.cancelupdate, {SELECTED}),
}
UID_COMMANDS = {"FETCH", "STORE", "COPY", "MOVE", "EXPUNGE", "SEARCH", "SORT", "THREAD"}


def main(argv=None):
    return server.main("imapd", {"imap", "imaps"}, start, argv)


async def start(cfg, sockets):
    try:
        ctx = Context(cfg)
    except accounts.AccountError as exc:
        sys.exit(f"mail-imapd: {exc}")
    hub = idle.Hub(cfg.runtime_dir / "imapd.notify")
    ctx.hub = hub
    ctx.mail.warm_up()
    # RFC 9051 7.1.5: a BYE greeting refuses the connection.
    limits = server.Limits(cfg.imapd.max_sessions, cfg.imapd.max_sessions_per_address,
                           b"* BYE too many connections\r\n")
    srv = server.Server(functools.partial(session, ctx), credentials=ctx.credentials,
                        implicit_tls={"imaps"}, idle_exit=cfg.server.idle_exit,
                        on_stop=ctx.shutdown, limits=limits)
    try:
        await srv.serve(sockets, background=[hub.run()])
    finally:
        hub.close()
        ctx.close()


class Context:
    """What all sessions of the process share."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.credentials = tls.from_config(cfg)
        self.accounts = accounts.Accounts(cfg.state_dir)
        self.login = login.Login(cfg.login, self.accounts)
        self.mail = MailService()
        self.hub = None
        self.sessions = set()
        self.stopping = False

    def shutdown(self):
        """End the sessions waiting for a command or in IDLE now (RFC 9051 7.1.5
        BYE); a busy one finishes its command first, then sees `stopping`."""
        self.stopping = True
        for s in self.sessions:
            if s.waiting:
                s.end_reason = "server shutting down"
                s.untagged("BYE server shutting down")
                s.push()
                s.stream.close()
                # A TLS close waits for the client's close_notify; do not.
                s.task.cancel()

    def close(self):
        self.mail.close()
        self.accounts.close()


async def session(ctx, stream, name):
    await Session(ctx, stream, name).run()


class Session:
    def __init__(self, ctx, stream, name):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.mail = ctx.mail
        self.stream = stream
        self.task = None
        self.ip = server.peer_ip(stream)
        self.state = NOT_AUTHENTICATED
        self.user = None
        self.store = None
        self.selected = None
        self.enabled = set()        # extensions the client ENABLEd (RFC 5161)
        self.id_logged = False
        self.saved_search = None    # SEARCHRES's `$` (search.SavedResult)
        self.contexts = {}          # tag -> context.Context (RFC 5267 4)
        self.watch = None           # NOTIFY's notify.Watch (RFC 5465)
        self.busy = asyncio.Lock()  # held by a command, or by a notification
        self.bad = 0
        self.failed_logins = 0
        self.waiting = False        # for a command, or in IDLE: safe to interrupt
        self.out = bytearray()
        self.end_reason = "disconnected"

    async def run(self):
        self.untagged(f"OK [CAPABILITY {auth.capabilities(self)}] "
                      f"{self.cfg.server.hostname} IMAP ready")
        self.task = asyncio.current_task()
        self.ctx.sessions.add(self)
        try:
            await self.flush()
            while self.state != LOGOUT:
                await self.next_command()
                await self.flush()
        except Logout as exc:
            self.end_reason = str(exc)
            self.untagged(f"BYE {exc}")
            self.push()
        except (StreamClosed, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.ctx.sessions.discard(self)
            await self.close()

    async def next_command(self):
        if self.ctx.stopping:
            raise Logout("server shutting down")
        receive = append.receiver(self) if self.user else None
        try:
            self.waiting = True
            # asyncio.timeout() arms a timer on this task; wait_for() would make
            # a task of each command (before Python 3.12).
            async with asyncio.timeout(self.timeout()):
                data = await read_command(self.stream, self.continuation,
                                          self.max_literal(), receive)
        except asyncio.TimeoutError:
            raise Logout("Autologout; idle for too long") from None
        except LineTooLong:
            return self.fail("*", Bad("command line too long", "TOOBIG"))
        except ProtocolError as exc:
            # Refused before its end (a literal over a limit, an APPEND refused
            # before its message was sent): answered, and nothing done.
            self.fail(exc.tag or "*", exc)
            if getattr(exc, "fatal", False):
                raise Logout("literal too large") from None
            return None
        finally:
            self.waiting = False
        try:
            async with self.busy:
                return await self.execute(data)
        finally:
            for sink in data.streamed.values():
                await sink.discard()

    async def execute(self, data):
        tag = "*"
        try:
            cmd = parse_command(data)
            tag = cmd.tag
            verb = self.verb(cmd)
            text = await verb(self, cmd)
        except ProtocolError as exc:
            return self.fail(exc.tag or tag, exc)
        except (Logout, StreamClosed, ConnectionError, ssl.SSLError):
            raise
        except StoreError as exc:
            return self.store_failed(tag, exc)
        except NoSuchFolder:
            return await self.folder_gone(tag)
        except Exception:
            log_internal_error(self.who(), data)
            # The tag as parse_command reads it, even when parsing is what failed.
            tag = tag_of(data) or "*"
            return self.write(status(tag, "NO", "internal server error", "SERVERBUG"))
        self.bad = 0
        if text is not ANSWERED:
            self.write(completed(tag, text or f"{cmd.name} completed"))
        return None

    def verb(self, cmd):
        """The function for `cmd`, after the state check (RFC 9051 3)."""
        if cmd.name == "UID":
            if not cmd.args or not isinstance(cmd.args[0], str) \
                    or cmd.args[0].upper() not in UID_COMMANDS:
                raise Bad("unknown UID command")
            cmd.name, cmd.args, cmd.uid = cmd.args[0].upper(), cmd.args[1:], True
        entry = COMMANDS.get(cmd.name)
        if entry is None:
            raise Bad(f"unknown command {cmd.name}")
        verb, states = entry
        if self.state not in states:
            raise Bad(f"{cmd.name} is not allowed in the {self.state} state")
        search.resolve_saved(self, cmd)
        return verb

    async def folder_gone(self, tag):
        """A folder vanished under a command: the selected one, deleted or renamed
        by another session, ends the session as Dovecot does (RFC 9051 7.1.5:
        BYE); else the command fails."""
        if self.selected is not None and not await self.mail.call(
                self.selected.folder.indexed):
            raise Logout("the selected mailbox was removed")
        return self.write(status(tag, "NO", "no such mailbox", "NONEXISTENT"))

    def store_failed(self, tag, exc):
        # The disk or the index failed (a full disk): nothing was changed.
        log.error("%s: mailbox store failed: %s", self.who(), exc)
        self.write(status(tag, "NO", "mailbox temporarily unavailable", "UNAVAILABLE"))

    def fail(self, tag, exc):
        self.write(status(tag, exc.status, exc.text, exc.code))
        if exc.status == "BAD":
            self.bad += 1
            if self.bad >= MAX_BAD:
                raise Logout("too many invalid commands")

    # output

    # Output is gathered and sent at flush(): one segment per answer, not one per
    # line, which small-packet delays (Nagle, delayed ACK) would otherwise slow.

    def write(self, data):
        self.out += data

    def untagged(self, text):
        self.out += untagged(text, names.utf8(self))

    def push(self):
        if self.out:
            self.stream.write(bytes(self.out))
            self.out.clear()

    async def flush(self):
        self.push()
        await self.stream.drain()

    async def continuation(self, text=""):
        self.out += f"+ {text}\r\n".encode("utf-8")
        await self.flush()

    async def readline(self):
        """One line of a continuation (AUTHENTICATE, IDLE), under the timer."""
        try:
            async with asyncio.timeout(self.timeout()):
                return await self.stream.readline(MAX_LINE)
        except asyncio.TimeoutError:
            raise Logout("Autologout; idle for too long") from None
        except LineTooLong:
            raise Bad("line too long", "TOOBIG") from None

    # state

    def max_literal(self):
        return MAX_LITERAL if self.user else MAX_PREAUTH_LITERAL

    def timeout(self):
        limit = self.cfg.imapd.idle_timeout
        return limit if self.user else min(limit, PREAUTH_TIMEOUT)

    def logged_in(self, address, store):
        self.user = address
        self.store = store
        self.state = AUTHENTICATED

    def select(self, selected):
        self.selected = selected
        self.contexts.clear()
        self.state = AUTHENTICATED if selected is None else SELECTED

    def who(self):
        return f"user={self.user or '-'} ip={self.ip or '-'}"

    async def logged_out(self, reason):
        """Back to the state after the greeting: no mailbox, no user, nothing
        ENABLEd (RFC 8437 3)."""
        notify.stop(self)
        self.selected = None
        self.state = NOT_AUTHENTICATED
        self.enabled.clear()
        self.saved_search = None
        if self.user:
            store, self.store = self.store, None
            log.info("logout: %s reason=%s", self.who(), reason)
            self.user = None
            await self.mail.release(store)

    async def close(self):
        await self.logged_out(self.end_reason)


def log_internal_error(who, data):
    """Log the exception being handled (a bug, so with its traceback), within the
    bounds above, every character printable."""
    trace = traceback.format_exc(limit=-LOGGED_FRAMES).splitlines()
    lines = ["".join(c if c.isprintable() else "?" for c in line[:LOGGED_LINE])
             for line in trace]
    log.error("%s: %r failed\n%s", who, bytes(data[:LOGGED_COMMAND]), "\n".join(lines))
