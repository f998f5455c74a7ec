"""What every davd request passes before an application (core.http's gate, on
the event loop): the path checks, the well-known redirects, and the login.

A request path is refused (400) when it could name something else than it
seems: an encoded slash or backslash, a NUL, a "." or ".." segment, before or
after percent-decoding (so "%2e%2e" too); Radicale would resolve those itself,
but a path is taken as sent or not at all. A MOVE or COPY Destination is held
to the same rules.

Paths under a public prefix (autoconfiguration, and what later programs add)
need no login; all others are Radicale's and need HTTP Basic (RFC 7617) with
the user's mail address and password, checked by core.login: the same password
check, failure delays and per-address limits as IMAP and SMTP. A throttled
client gets 429 (RFC 6585 4) with Retry-After.
"""

import asyncio
import base64
import binascii
from urllib.parse import unquote, urlsplit

from ..core import login
from ..core.http import Reply

REALM = 'Basic realm="mailsuite", charset="UTF-8"'
# RFC 6764 5: a client looks for /.well-known/caldav and /.well-known/carddav,
# which lead to where the principal is found: the root, for Radicale.
WELL_KNOWN = ("/.well-known/caldav", "/.well-known/carddav")
FORBIDDEN_ENCODED = ("%2f", "%5c", "%00")


class Gate:
    def __init__(self, logins, prepare_user, public=()):
        self.logins = logins                # a core.login.Login
        self.prepare_user = prepare_user    # blocking: called in a thread, once
        self.public = tuple(p.rstrip("/") for p in public)
        self.prepared = set()

    async def __call__(self, environ):
        reply = check_path(environ)
        if reply is not None:
            return reply
        path = environ["PATH_INFO"]
        if path.rstrip("/") in WELL_KNOWN:
            return Reply(301, [("Location", "/")])
        if any(path == p or path.startswith(p + "/") for p in self.public):
            return None
        return await self._login(environ)

    async def _login(self, environ):
        credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            return unauthorized()
        try:
            user = await self.logins.attempt(credentials, environ["REMOTE_ADDR"], "http")
        except login.Throttled as exc:
            return Reply(429, [("Retry-After", "60")], f"{exc}\n".encode())
        except login.LoginError:
            return unauthorized()
        if user.address not in self.prepared:
            await asyncio.to_thread(self.prepare_user, user.address)
            self.prepared.add(user.address)
        environ["mailsuite.user"] = user.address
        return None


def unauthorized():
    # RFC 7235 3.1: a 401 names the scheme to use; RFC 7617 2.1: and the charset.
    return Reply(401, [("WWW-Authenticate", REALM)], b"log in with your mail address\n")


def basic_credentials(header):
    """The login.Credentials of an Authorization: Basic field, or None."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        return None
    return login.Credentials(user, password)


def check_path(environ):
    """A 400 Reply if the request's path or Destination is a trick, else None."""
    raw = environ["REQUEST_URI"].partition("?")[0]
    if not safe_path(raw):
        return _bad("refused path")
    destination = environ.get("HTTP_DESTINATION")
    if destination is not None and not safe_path(_path_of(destination)):
        return _bad("refused Destination")
    return None


def _path_of(url):
    try:
        return urlsplit(url).path
    except ValueError:          # a bad IPv6 literal: no path to trust
        return "\0"


def safe_path(raw):
    lowered = raw.lower()
    if any(code in lowered for code in FORBIDDEN_ENCODED) or "\\" in raw:
        return False
    for text in (raw, unquote(raw)):
        if "\0" in text or any(seg in (".", "..") for seg in text.split("/")):
            return False
    return True


def _bad(text):
    return Reply(400, [("Content-Type", "text/plain")], f"{text}\n".encode())
