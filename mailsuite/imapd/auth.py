"""The verbs of the not-authenticated state and of any state: CAPABILITY, STARTTLS,
LOGIN, AUTHENTICATE (PLAIN, LOGIN), LOGOUT (RFC 9051 6.1 and 6.2; RFC 3501 the same).

The login policy is core.login's, shared with the other daemons; this module maps
its answers to IMAP's. Passwords travel only under TLS (RFC 9051 11.1, RFC 8314):
before STARTTLS the server advertises LOGINDISABLED and answers NO
[PRIVACYREQUIRED], unless imapd.plaintext_loopback allows it for a client on the
loopback interface. A failed login is answered after core.login's delay, a few
failures end the session, and an address or account over core.login's limits gets
NO [UNAVAILABLE] (RFC 5530 3) without a password check.
"""

import asyncio
import contextlib
import functools
import logging

from ..core import login as core_login
from ..core.stream import StreamClosed
from ..core.tls import TLSUnavailable
from . import folders
from .errors import Bad, Logout, No
from .parser import astring, atom, expect
from .quota import CAPABILITIES as QUOTA
from .response import ANSWERED, status

log = logging.getLogger("imapd")

# What a client may need before it logs in (RFC 9051 7.2.2), and what is announced
# once it has: COMPRESS (RFC 4978 3), UNAUTHENTICATE (RFC 8437) and APPENDLIMIT
# serve only a logged-in session. LITERAL+: RFC 7888 4 (non-synchronizing literals
# of any size; decision 0009). IMAP4rev2 is listed when imapd.imap4rev2 says so
# (decision 0012).
BASE_CAPABILITIES = ("IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE",
                     "UNSELECT", "CHILDREN", "UIDPLUS", "MOVE", "MULTIAPPEND",
                     "CATENATE", "BINARY", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT",
                     "NOTIFY") + QUOTA
LOGGED_IN_CAPABILITIES = ("UNAUTHENTICATE", "COMPRESS=DEFLATE")
# search.py, sort.py, context.py, thread.py: RFC 4731, 5182, 5256, 5267, 5957.
SEARCH_CAPABILITIES = ("ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "ESORT",
                       "CONTEXT=SEARCH", "CONTEXT=SORT",
                       "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES")
MAX_FAILURES = 3        # failed or refused logins before the session is ended

# core.login's refusals as IMAP answers: (status, response code); RFC 5530 3.
ANSWERS = {
    core_login.PrivacyRequired: (No, "PRIVACYREQUIRED"),
    core_login.UnsupportedMechanism: (No, "CANNOT"),
    core_login.Malformed: (Bad, None),
    core_login.Cancelled: (Bad, None),      # RFC 9051 6.2.2: "*" gets BAD
    core_login.NotAuthorized: (No, "AUTHORIZATIONFAILED"),
    core_login.Failed: (No, "AUTHENTICATIONFAILED"),
    core_login.Throttled: (No, "UNAVAILABLE"),
}


def capabilities(s):
    """The capability list for the session's current state (RFC 9051 7.2.2)."""
    caps = list(BASE_CAPABILITIES + folders.CAPABILITIES + SEARCH_CAPABILITIES)
    if s.cfg.imapd.imap4rev2:
        caps.insert(1, "IMAP4rev2")
    if s.user is None:
        if not s.stream.tls and s.ctx.credentials.available():
            caps.append("STARTTLS")
        if plaintext_refused(s):
            caps.append("LOGINDISABLED")
        else:
            caps += [f"AUTH={name}" for name in core_login.MECHANISMS]
    else:
        caps += LOGGED_IN_CAPABILITIES
        caps.append(f"APPENDLIMIT={s.cfg.imapd.max_message_size}")
    return " ".join(caps)


def plaintext_refused(s):
    return core_login.plaintext_refused(s.stream.tls, s.ip,
                                        s.cfg.imapd.plaintext_loopback)


async def capability(s, cmd):
    # RFC 9051 6.1.1
    expect(cmd.args, 0, "no arguments")
    s.untagged(f"CAPABILITY {capabilities(s)}")


async def logout(s, cmd):
    # RFC 9051 6.1.3: BYE first, then the tagged OK.
    expect(cmd.args, 0, "no arguments")
    s.untagged("BYE logging out")
    s.end_reason = "logout"
    s.state = "logout"


async def starttls(s, cmd):
    # RFC 9051 6.2.1
    expect(cmd.args, 0, "no arguments")
    if s.stream.tls:
        raise Bad("TLS is already active")
    try:
        context = s.ctx.credentials.context()
    except TLSUnavailable:
        raise No("TLS is not available") from None
    s.write(status(cmd.tag, "OK", "Begin TLS negotiation now"))
    reply = bytes(s.out)
    s.out.clear()
    # Stream.starttls drops whatever the client pipelined after the command: it
    # must not be read as if it had come under TLS (RFC 2595 3.1, CVE-2011-0411).
    try:
        await s.stream.starttls(context, reply)
    except (OSError, asyncio.TimeoutError) as exc:
        log.info("starttls failed: ip=%s %s", s.ip, exc)
        raise StreamClosed() from None
    return ANSWERED


async def login(s, cmd):
    # RFC 9051 6.2.3
    user, password = (astring(a) for a in expect(cmd.args, 2, "user name and password"))
    with answers():
        require_privacy(s)
    await authenticate_as(s, core_login.Credentials(user, password), "LOGIN")
    return f"[CAPABILITY {capabilities(s)}] Logged in"


async def authenticate(s, cmd):
    # RFC 9051 6.2.2; initial response as in RFC 4959.
    if not 1 <= len(cmd.args) <= 2:
        raise Bad("expected a mechanism and an optional initial response")
    mechanism = atom(cmd.args[0], "a mechanism name")
    initial = None
    if len(cmd.args) == 2:
        atom(cmd.args[1], "a base64 response")
        initial = str(cmd.args[1])
    with answers():
        if mechanism not in core_login.MECHANISMS:
            raise core_login.UnsupportedMechanism()
        require_privacy(s)
        credentials = await core_login.sasl(mechanism, initial,
                                            functools.partial(_ask, s))
    await authenticate_as(s, credentials, f"SASL-{mechanism}")
    return f"[CAPABILITY {capabilities(s)}] Logged in"


async def _ask(s, challenge):
    """One SASL round: `+ challenge`, then the client's line (RFC 9051 7.5)."""
    await s.continuation(challenge)
    return (await s.readline()).decode("ascii", "replace")


def require_privacy(s):
    core_login.require_privacy(s.stream.tls, s.ip, s.cfg.imapd.plaintext_loopback)


@contextlib.contextmanager
def answers():
    """Turn core.login's refusals into the IMAP answers of ANSWERS."""
    try:
        yield
    except core_login.LoginError as exc:
        kind, code = ANSWERS[type(exc)]
        raise kind(str(exc), code) from None


async def authenticate_as(s, credentials, method):
    try:
        with answers():
            result = await s.ctx.login.attempt(credentials, s.ip, method)
    except No as exc:
        if exc.code in ("AUTHENTICATIONFAILED", "UNAVAILABLE"):
            s.failed_logins += 1
            if s.failed_logins >= MAX_FAILURES:
                raise Logout("too many failed logins") from None
        raise
    try:
        store = await s.mail.open(s.ctx.accounts.mailbox_dir(result.address))
    except Exception:
        log.exception("cannot open the mailbox of %s", result.address)
        raise No("mailbox unavailable", "UNAVAILABLE") from None
    await folders.prepare(s, store, result.address)
    s.logged_in(result.address, store)
    tls_info = s.stream.tls_info()
    log.info("login: %s method=%s tls=%s cached=%s", s.who(), method,
             tls_info[0] if tls_info else "no", "yes" if result.cached else "no")
