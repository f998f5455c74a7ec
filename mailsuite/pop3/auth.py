"""Logging in: CAPA (RFC 2449 5), STLS (RFC 2595 4), USER and PASS (RFC 1939 7),
AUTH with PLAIN and LOGIN (RFC 5034), and APOP, refused.

The login policy is core.login's, shared with the other daemons; this module maps
its refusals to POP3's answers (the table in core.login's docstring). Passwords
travel only under TLS (RFC 8314): before STLS, CAPA lists neither USER nor SASL and
both are refused, unless pop3d.plaintext_loopback allows them from the loopback
interface. APOP needs the password itself (its digest is the MD5 of the greeting's
timestamp and the password), and the accounts keep argon2id hashes only: it is
refused with that reason, and the greeting carries no timestamp, which tells
clients as much (RFC 1939 7). A failed login is answered after core.login's delay,
a few failures end the session, and an address or account over core.login's limits
gets -ERR [SYS/TEMP] (RFC 3206 4) without a password check.

Once the password is right, the mailbox is locked (pop3.lock; a second session
gets -ERR [IN-USE], RFC 2449 8.1.1) and the session's snapshot taken
(pop3.maildrop), and only then does the client hear +OK.
"""

import contextlib
import functools
import logging

from ..core import login as core_login
from ..core.mailservice import StoreError
from ..core.tls import TLSUnavailable
from . import transaction
from .lock import InUse, MailboxLock
from .replies import Bad, Closing, Err, multiline, ok

log = logging.getLogger("pop3d")

MAX_FAILURES = 3        # failed or throttled logins before the session is ended

# core.login's refusals as POP3 answers: (kind, response code); RFC 3206 4, RFC 5034 4.
ANSWERS = {
    core_login.PrivacyRequired: (Bad, None),
    core_login.UnsupportedMechanism: (Bad, None),
    core_login.Malformed: (Bad, None),
    core_login.Cancelled: (Err, None),
    core_login.NotAuthorized: (Err, "AUTH"),
    core_login.Failed: (Err, "AUTH"),
    core_login.Throttled: (Err, "SYS/TEMP"),
}
PRIVACY = "use STLS or the implicit TLS port first"


def capabilities(s):
    """RFC 2449 5: the same list in both states, since what is available in the
    AUTHORIZATION state must be announced in both."""
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if not s.stream.tls and s.ctx.credentials.available():
        caps.append("STLS")
    if not plaintext_refused(s):
        caps += ["USER", "SASL " + " ".join(core_login.MECHANISMS)]
    caps.append("IMPLEMENTATION mailsuite")
    return caps


def plaintext_refused(s):
    return core_login.plaintext_refused(s.stream.tls, s.ip,
                                        s.cfg.pop3d.plaintext_loopback)


async def capa(s, arg):
    no_arguments(arg)
    s.write(multiline("capability list follows", capabilities(s)))


async def stls(s, arg):
    # RFC 2595 4
    no_arguments(arg)
    if s.stream.tls:
        raise Bad("TLS is already active")
    try:
        context = s.ctx.credentials.context()
    except TLSUnavailable:
        raise Err("TLS is not available", "SYS/TEMP") from None
    reply = bytes(s.out) + ok("begin TLS negotiation")
    s.out.clear()
    # Stream.starttls drops whatever the client pipelined after the command: it
    # must not be read as if it had come under TLS (RFC 2595 3.1, CVE-2011-0411).
    await s.stream.starttls(context, reply)
    # RFC 2595 4: what the client said before TLS is forgotten, USER's name too.
    s.user_name = None


async def user(s, arg):
    # RFC 1939 7: any name gets +OK, so that USER tells nothing about accounts.
    require_privacy(s)
    if not arg:
        raise Bad("USER needs a name")
    s.user_name = arg
    s.answer("send PASS")


async def password(s, arg):
    # RFC 1939 7: PASS follows a successful USER; the argument is the rest of
    # the line, spaces included. Either way the client starts again with USER.
    name, s.user_name = s.user_name, None
    if name is None:
        raise Bad("USER first")
    require_privacy(s)
    if not arg:
        raise Bad("PASS needs a password")
    await log_in(s, core_login.Credentials(name, arg), "USER")


async def authenticate(s, arg):
    # RFC 5034 4; the initial response is optional, "=" is an empty one. Without
    # a mechanism, the list of them, as clients of RFC 1734 ask.
    if not arg:
        s.write(multiline("SASL mechanisms follow", core_login.MECHANISMS))
        return
    mechanism, _, initial = arg.partition(" ")
    with answers():
        if mechanism.upper() not in core_login.MECHANISMS:
            raise core_login.UnsupportedMechanism()
        require_privacy(s)
        credentials = await core_login.sasl(mechanism, initial or None,
                                            functools.partial(_ask, s))
    await log_in(s, credentials, f"SASL-{mechanism.upper()}")


async def _ask(s, challenge):
    """One SASL round (RFC 5034 4): "+ " and the challenge, then the client's
    line."""
    s.write(f"+ {challenge}\r\n".encode("ascii"))
    await s.flush()
    return (await s.readline()).decode("ascii", "replace")


async def apop(s, arg):
    raise Err("APOP is not supported: passwords are stored as argon2id hashes, "
              "not as text; use USER and PASS or AUTH PLAIN over TLS", "AUTH")


def no_arguments(arg):
    if arg.strip():
        raise Bad("no arguments expected")


def require_privacy(s):
    with answers():
        core_login.require_privacy(s.stream.tls, s.ip, s.cfg.pop3d.plaintext_loopback)


@contextlib.contextmanager
def answers():
    """Turn core.login's refusals into the POP3 answers of ANSWERS."""
    try:
        yield
    except core_login.LoginError as exc:
        kind, code = ANSWERS[type(exc)]
        text = PRIVACY if isinstance(exc, core_login.PrivacyRequired) else str(exc)
        raise kind(text, code) from None


async def log_in(s, credentials, method):
    try:
        with answers():
            result = await s.ctx.login.attempt(credentials, s.ip, method)
    except Err as exc:
        if exc.code in ("AUTH", "SYS/TEMP"):
            s.failed_logins += 1
            if s.failed_logins >= MAX_FAILURES:
                s.write(exc.line())
                raise Closing("too many failed logins") from None
        raise
    store, lock, drop = await open_mailbox(s, result.address)
    s.logged_in(result.address, store, lock, drop)
    tls_info = s.stream.tls_info()
    log.info("login: %s method=%s tls=%s cached=%s messages=%d", s.who(), method,
             tls_info[0] if tls_info else "no", "yes" if result.cached else "no",
             len(drop))
    count, octets = drop.stat()
    s.answer(f"maildrop has {count} messages ({octets} octets)")


async def open_mailbox(s, address):
    """(store, lock, maildrop) of the user's mailbox, or an -ERR."""
    try:
        store = await s.mail.open(s.ctx.accounts.mailbox_dir(address))
    except StoreError as exc:
        log.error("user=%s: cannot open the mailbox: %s", address, exc)
        raise Err("mailbox unavailable", "SYS/TEMP") from None
    lock = None
    try:
        lock = await s.mail.call(MailboxLock.acquire, store.root)
        drop = await transaction.open_maildrop(s.mail, store)
    except InUse:
        await s.mail.release(store)
        raise Err("another POP3 session has this mailbox", "IN-USE") from None
    except BaseException:
        if lock is not None:
            lock.release()
        await s.mail.release(store)
        raise
    return store, lock, drop
