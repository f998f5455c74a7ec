"""The verbs of the not-authenticated state and of any state: CAPABILITY, STARTTLS,
LOGIN, AUTHENTICATE PLAIN, LOGOUT (RFC 9051 6.1 and 6.2; RFC 3501 the same).

Passwords travel only under TLS (RFC 9051 11.1, RFC 8314): before STARTTLS the
server advertises LOGINDISABLED and answers NO [PRIVACYREQUIRED], unless
imapd.plaintext_loopback allows it for a client on the loopback interface. The
password check (accounts.verify) takes the same time for unknown users and runs in a
thread; a failure costs the client a delay, and a few failures end the session.
"""

import asyncio
import base64
import binascii
import logging

from ..core import accounts, server
from ..core.stream import StreamClosed
from ..core.tls import TLSUnavailable
from .errors import Bad, Logout, No
from .parser import astring, atom, expect
from .response import ANSWERED, status

log = logging.getLogger("imapd")

BASE_CAPABILITIES = ("IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE", "UNSELECT", "CHILDREN")
FAILURE_DELAY = 1.0     # seconds before a failed login is answered
MAX_FAILURES = 3        # failed logins before the session is ended


def capabilities(s):
    """The capability list for the session's current state (RFC 9051 7.2.2)."""
    caps = list(BASE_CAPABILITIES)
    if s.user is None:
        if not s.stream.tls and s.ctx.credentials.available():
            caps.append("STARTTLS")
        caps.append("LOGINDISABLED" if plaintext_refused(s) else "AUTH=PLAIN")
    return " ".join(caps)


def plaintext_refused(s):
    if s.stream.tls:
        return False
    return not (s.cfg.imapd.plaintext_loopback and server.is_loopback(s.ip))


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
    require_privacy(s)
    await authenticate_as(s, user, password, "LOGIN")
    return f"[CAPABILITY {capabilities(s)}] Logged in"


async def authenticate(s, cmd):
    # RFC 9051 6.2.2; initial response as in RFC 4959; PLAIN is RFC 4616.
    if not 1 <= len(cmd.args) <= 2:
        raise Bad("expected a mechanism and an optional initial response")
    if atom(cmd.args[0], "a mechanism name") != "PLAIN":
        raise No("unsupported authentication mechanism", "CANNOT")
    require_privacy(s)
    if len(cmd.args) == 2:
        atom(cmd.args[1], "a base64 response")
        response = str(cmd.args[1])
    else:
        await s.continuation()
        response = (await s.readline()).strip().decode("ascii", "replace")
    user, password = _decode_plain(response)
    await authenticate_as(s, user, password, "PLAIN")
    return f"[CAPABILITY {capabilities(s)}] Logged in"


def _decode_plain(response):
    """authzid NUL authcid NUL passwd (RFC 4616 2); "=" is an empty response."""
    if response == "*":
        raise Bad("authentication cancelled")
    try:
        data = b"" if response == "=" else base64.b64decode(response, validate=True)
        authzid, user, password = (p.decode("utf-8") for p in data.split(b"\0"))
    except (binascii.Error, ValueError):
        raise Bad("malformed PLAIN response") from None
    if authzid and authzid.lower() != user.lower():
        raise No("cannot log in as another user", "AUTHORIZATIONFAILED")
    return user, password


def require_privacy(s):
    if plaintext_refused(s):
        raise No("use STARTTLS or port 993 first", "PRIVACYREQUIRED")


async def authenticate_as(s, user, password, method):
    ok = await asyncio.to_thread(s.ctx.accounts.verify, user, password)
    if not ok:
        await _failed(s, user, method)
    address = "@".join(accounts.split(user))
    try:
        store = await s.mail.open(s.ctx.accounts.mailbox_dir(address))
    except Exception:
        log.exception("cannot open the mailbox of %s", address)
        raise No("mailbox unavailable", "UNAVAILABLE") from None
    s.logged_in(address, store)
    tls_info = s.stream.tls_info()
    log.info("login: %s method=%s tls=%s", s.who(), method,
             tls_info[0] if tls_info else "no")


async def _failed(s, user, method):
    s.failed_logins += 1
    shown = "".join(c if c.isprintable() else "?" for c in user[:100])
    log.warning("login failed: user=%s ip=%s method=%s", shown, s.ip or "-", method)
    await asyncio.sleep(FAILURE_DELAY)
    if s.failed_logins >= MAX_FAILURES:
        raise Logout("too many failed logins")
    raise No("authentication failed", "AUTHENTICATIONFAILED")
