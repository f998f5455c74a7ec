"""SMTP AUTH (RFC 4954) with SASL PLAIN (RFC 4616) and LOGIN, through core.login,
the one login policy of every daemon: this module only speaks SMTP's part.

    await authenticate(session, arg, login) -> LoggedIn

core.login's refusals become these replies (RFC 4954 6, RFC 3463):
PrivacyRequired 538 5.7.11, UnsupportedMechanism 504 5.5.4, Malformed 501 5.5.2,
Cancelled 501 5.7.0, NotAuthorized and Failed 535 5.7.8, Throttled 454 4.7.0.
"""

import functools

from ..core import login as core_login
from ..core.stream import LineTooLong
from .errors import ProtocolError

# RFC 4954 4: a server should take AUTH lines and responses of 12288 octets.
MAX_RESPONSE = 12288

ANSWERS = {
    core_login.PrivacyRequired: (538, "5.7.11"),
    core_login.UnsupportedMechanism: (504, "5.5.4"),
    core_login.Malformed: (501, "5.5.2"),
    core_login.Cancelled: (501, "5.7.0"),
    core_login.NotAuthorized: (535, "5.7.8"),
    core_login.Failed: (535, "5.7.8"),
    core_login.Throttled: (454, "4.7.0"),
}


def refusal(exc):
    """The ProtocolError that answers core.login's `exc`."""
    code, enhanced = ANSWERS[type(exc)]
    return ProtocolError(code, enhanced, str(exc))


async def authenticate(session, arg, login):
    """Run the AUTH command `arg` ("mechanism [initial-response]"). Credentials
    wait for TLS, even from loopback (RFC 8314 3)."""
    words = arg.split(" ")
    if not 1 <= len(words) <= 2 or not words[0]:
        raise ProtocolError(501, "5.5.4", "syntax: AUTH mechanism [response]")
    mechanism = words[0].upper()
    initial = words[1] if len(words) == 2 else None
    try:
        if mechanism not in core_login.MECHANISMS:
            raise core_login.UnsupportedMechanism()
        core_login.require_privacy(session.stream.tls, session.client_ip, False)
        credentials = await core_login.sasl(mechanism, initial,
                                            functools.partial(_ask, session))
        return await login.attempt(credentials, session.client_ip,
                                   f"SASL-{mechanism}")
    except core_login.LoginError as exc:
        raise refusal(exc) from None


async def _ask(session, challenge):
    """One SASL round (RFC 4954 4): "334 challenge", then the client's line."""
    session.reply(f"334 {challenge}")
    await session.flush()
    try:
        line = await session.stream.readline(MAX_RESPONSE,
                                             timeout=session.limits.command_timeout)
    except TimeoutError:
        raise ProtocolError(421, "4.4.2", "timeout exceeded", close=True) from None
    except LineTooLong:
        raise core_login.Malformed("response too long") from None
    return line.decode("ascii", "replace")
