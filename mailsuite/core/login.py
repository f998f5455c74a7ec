"""Logging users in, once for every daemon that does (imapd; submitd, pop3d and davd
to come): the plaintext policy, SASL PLAIN and LOGIN, the failure limits, the
password check and the auth cache.

A protocol takes the credentials from its command (its own LOGIN/USER+PASS, or
`sasl()` for AUTHENTICATE/AUTH) and calls `Login.attempt()`, which returns a
`LoggedIn` or raises a `LoginError`; each protocol maps the errors to its answer:

    error                 IMAP (RFC 5530)            SMTP (RFC 4954)  POP3 (RFC 3206)
    PrivacyRequired       NO [PRIVACYREQUIRED]       538 5.7.11       -ERR
    UnsupportedMechanism  NO [CANNOT]                504 5.5.4        -ERR
    Malformed, Cancelled  BAD                        501 5.5.2        -ERR
    NotAuthorized         NO [AUTHORIZATIONFAILED]   535 5.7.8        -ERR [AUTH]
    Failed                NO [AUTHENTICATIONFAILED]  535 5.7.8        -ERR [AUTH]
    Throttled             NO [UNAVAILABLE]           454 4.7.0        -ERR [SYS/TEMP]

Failure policy: a wrong password is answered after a delay that grows with the
failures of the client's address (core.loginlimit); past a limit, attempts are
refused at once without checking the password. The password check (argon2id, about
a sixth of a second of CPU and 64 MiB) runs in a thread, never on the event loop. A
verified login is remembered for `login.cache_ttl` seconds under an HMAC of address
and password with a key that lives only in this process; an entry also holds a
digest of the stored hash, compared with the account's at every hit, so a password
change or a disabled account ends it at once. The password is never stored nor
logged. The limits and the cache live in the process: a restart forgets them.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from . import accounts, metrics, server
from .loginlimit import Limiter, account_key, address_group

log = logging.getLogger(__name__)

MECHANISMS = ("PLAIN", "LOGIN")
SHOWN_USER = 100        # characters of a user name shown in the log


class LoginError(Exception):
    """The login failed; the message is the text for the client."""

    def __init__(self, text=None):
        super().__init__(text or self.__doc__)


class PrivacyRequired(LoginError):
    """use STARTTLS or the implicit TLS port first"""


class UnsupportedMechanism(LoginError):
    """unsupported authentication mechanism"""


class Malformed(LoginError):
    """malformed authentication response"""


class Cancelled(LoginError):
    """authentication cancelled"""


class NotAuthorized(LoginError):
    """cannot log in as another user"""


class Failed(LoginError):
    """authentication failed"""


class Throttled(LoginError):
    """too many failed logins, try again later"""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    authzid: str = ""


class LoggedIn(NamedTuple):
    address: str        # normalized, "local@domain"
    cached: bool        # True when the auth cache spared the password check


# the plaintext policy

def plaintext_refused(tls, ip, loopback_allowed):
    """Whether credentials must wait for TLS (RFC 8314 3, RFC 9051 11.1): always
    without TLS, unless the configuration allows it from loopback."""
    if tls:
        return False
    return not (loopback_allowed and server.is_loopback(ip or ""))


def require_privacy(tls, ip, loopback_allowed):
    if plaintext_refused(tls, ip, loopback_allowed):
        raise PrivacyRequired()


# SASL

async def sasl(mechanism, initial, ask):
    """The credentials of a SASL exchange. `initial` is the client's initial
    response as sent (RFC 4959, RFC 4954), or None; `ask(challenge)` sends a
    base64 challenge in the protocol's framing and returns the client's line."""
    mechanism = mechanism.upper()
    if mechanism == "PLAIN":
        data = decode(initial if initial is not None else await ask(""))
        return parse_plain(data)
    if mechanism == "LOGIN":
        # draft-murchison-sasl-login: the server asks for each in turn; an initial
        # response, as clients send with SASL-IR, is the user name.
        user = decode(initial if initial is not None else await ask(_b64("Username:")))
        password = decode(await ask(_b64("Password:")))
        return Credentials(_utf8(user, "LOGIN"), _utf8(password, "LOGIN"))
    raise UnsupportedMechanism()


def decode(response):
    """A client's SASL response, from base64 (RFC 4648 4, padding required).
    "*" cancels the exchange (RFC 9051 6.2.2, RFC 4954 4); "=" is an empty
    initial response (RFC 4959 3)."""
    response = response.strip()
    if response == "*":
        raise Cancelled()
    if response == "=":
        return b""
    try:
        return base64.b64decode(response, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("malformed base64 response") from None


def parse_plain(data):
    """RFC 4616 2: [authzid] NUL authcid NUL passwd, in UTF-8. The RFC bounds
    authcid and passwd at 255 octets; like Dovecot, longer ones are taken, since
    an account's password may have up to 1024 characters."""
    parts = data.split(b"\0")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise Malformed("malformed PLAIN response")
    authzid, user, password = (_utf8(part, "PLAIN") for part in parts)
    # RFC 4616 2: the server may refuse an authorization identity other than
    # the authenticated one; we have no users who may act for others.
    if authzid and authzid.lower() != user.lower():
        raise NotAuthorized()
    return Credentials(user, password, authzid)


def _utf8(data, mechanism):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"malformed {mechanism} response: not UTF-8") from None


def _b64(text):
    return base64.b64encode(text.encode("ascii")).decode("ascii")


def shown(user):
    """A user name fit for one log line: escaped and bounded; no space, so it
    cannot pass for another field."""
    text = user[:SHOWN_USER].encode("unicode_escape").decode("ascii")
    text = text.replace(" ", "\\x20")
    return text + ("..." if len(user) > SHOWN_USER else "")


# the login itself

class Login:
    """One per process: the limits and the cache are shared by its sessions.
    `settings` is the [login] configuration section."""

    def __init__(self, settings, accounts_db, clock=time.monotonic):
        self.accounts = accounts_db
        self.limiter = Limiter(settings, clock)
        self.cache = AuthCache(settings.cache_ttl, settings.cache_size, clock)

    async def attempt(self, credentials, ip, method):
        """LoggedIn, or Throttled at once, or Failed after the failure delay."""
        user, password = credentials.user, credentials.password
        group, account = address_group(ip), account_key(user)
        refusal = self.limiter.refusal(group, account)
        if refusal:
            log.warning("login throttled: user=%s ip=%s method=%s limit=%s",
                        shown(user), ip or "-", method, refusal)
            raise Throttled()
        address = _normalized(user)
        key = self.cache.key(address, password) if address else None
        if key and await self._hit(key, address):
            self.limiter.succeeded(group, account)
            metrics.login(True)
            return LoggedIn(address, cached=True)
        with self.limiter.pending(group, account):
            stamp = await asyncio.to_thread(self._verify, address or user, password)
        metrics.login(bool(stamp))
        if not stamp:
            delay = self.limiter.failed(group, account)
            log.warning("login failed: user=%s ip=%s method=%s",
                        shown(user), ip or "-", method)
            await asyncio.sleep(delay)
            raise Failed()
        self.limiter.succeeded(group, account)
        self.cache.put(key, stamp)
        return LoggedIn(address, cached=False)

    async def _hit(self, key, address):
        """Whether the cache vouches for the login: an entry whose stamp is still
        the account's (one LMDB read, in a thread like every disk access)."""
        remembered = self.cache.get(key)
        if remembered is None:
            return False
        stamp = await asyncio.to_thread(self.accounts.credential_stamp, address)
        if stamp is not None and hmac.compare_digest(stamp, remembered):
            return True
        self.cache.forget(key)
        return False

    def _verify(self, user, password):
        """The account's credential stamp if the password is right, else None.
        The stamp is read first: a password changed in between gives the cache
        an entry that no longer matches, never a stale one that does."""
        stamp = self.accounts.credential_stamp(user)
        return stamp if self.accounts.verify(user, password) else None


def _normalized(user):
    try:
        return accounts.normalize(user)
    except accounts.AccountError:
        return None


class AuthCache:
    """Verified logins: HMAC-SHA256(process key, address NUL password) -> the
    account's credential stamp, for `ttl` seconds; at most `size` entries."""

    def __init__(self, ttl, size, clock=time.monotonic):
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._entries = OrderedDict()       # key -> (stamp, expires)

    def key(self, address, password):
        message = b"\0".join(s.encode("utf-8", "surrogatepass")
                             for s in (address, password))
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, key):
        entry = self._entries.get(key)
        if entry is None:
            return None
        stamp, expires = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        return stamp

    def put(self, key, stamp):
        if self.ttl <= 0 or self.size <= 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (stamp, self.clock() + self.ttl)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key):
        self._entries.pop(key, None)

    def __len__(self):
        return len(self._entries)
