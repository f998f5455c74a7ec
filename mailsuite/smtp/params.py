"""The parameters of MAIL FROM and RCPT TO that the engine understands.

MAIL: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID (DSN,
RFC 3461), REQUIRETLS (RFC 8689). RCPT: NOTIFY and ORCPT (RFC 3461). Each function
takes the parsed parameters ({NAME: value or True}) and fills the transaction's
record, or raises ProtocolError with the reply; a parameter it does not know is
left to the service's hook, and then refused with 555 (RFC 5321 4.1.1.11).
"""

import re
from dataclasses import dataclass, field

from .errors import ProtocolError

# RFC 3461 4: xtext is "+" and two upper-case hex digits, or any of "!".."~"
# but "+" and "=".
_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")
_HEX = re.compile(r"\+([0-9A-F]{2})")
MAX_ENVID = 100         # RFC 3461 4.4
MAX_ORCPT = 500         # RFC 3461 4.2
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
NOTIFY_EVENTS = ("SUCCESS", "FAILURE", "DELAY")


@dataclass
class Envelope:
    """One mail transaction: what MAIL and RCPT said."""
    sender: object = None       # a Path once MAIL succeeded
    recipients: list = field(default_factory=list)      # [Path]
    dsn: dict = field(default_factory=dict)     # address -> (notify, orcpt)
    smtputf8: bool = False
    body: str = "7BIT"
    ret: str | None = None
    envid: str | None = None
    requiretls: bool = False


def xtext(value, what):
    """The text an xtext stands for (RFC 3461 4); 501 when it is not xtext."""
    if value is True or not value.isascii() or not _XTEXT.fullmatch(value):
        raise ProtocolError(501, "5.5.4", f"syntax: {what} must be xtext")
    return _HEX.sub(lambda m: chr(int(m.group(1), 16)), value)


def mail_params(session, envelope, params):
    """Apply MAIL FROM's parameters to `envelope`."""
    limits = session.limits
    for name, value in params.items():
        if name == "SIZE":
            # RFC 1870 6: refuse a declared size above the limit at once.
            if value is True or not value.isdigit():
                raise ProtocolError(501, "5.5.4", "syntax: SIZE=number")
            if int(value) > limits.max_message_size:
                raise ProtocolError(552, "5.3.4", "message size exceeds limit")
        elif name == "BODY" and session.esmtp:
            if value not in ("7BIT", "8BITMIME"):
                raise ProtocolError(501, "5.5.4", "BODY must be 7BIT or 8BITMIME")
            envelope.body = value
        elif name == "SMTPUTF8" and session.esmtp and value is True:
            envelope.smtputf8 = True
        elif name == "RET" and session.esmtp:
            envelope.ret = _ret(value)
        elif name == "ENVID" and session.esmtp:
            envelope.envid = _envid(value)
        elif name == "REQUIRETLS" and session.esmtp and session.stream.tls:
            # RFC 8689 4.1: offered, and so accepted, only in a TLS session.
            if value is not True:
                raise ProtocolError(501, "5.5.4", "syntax: REQUIRETLS takes no value")
            envelope.requiretls = True
        elif not session.handle_mail_param(name, value):
            raise ProtocolError(555, "5.5.4", f"unsupported parameter {name}")


def _ret(value):
    # RFC 3461 4.3: RET=FULL or RET=HDRS.
    if value is True or value.upper() not in ("FULL", "HDRS"):
        raise ProtocolError(501, "5.5.4", "syntax: RET=FULL or RET=HDRS")
    return value.upper()


def _envid(value):
    # RFC 3461 4.4: at most 100 characters, of printable ASCII once decoded.
    text = xtext(value, "ENVID")
    if len(value) > MAX_ENVID or not text.isprintable():
        raise ProtocolError(501, "5.5.4", "syntax: bad ENVID")
    return text


def rcpt_params(session, params):
    """The (notify, orcpt) of RCPT TO's parameters, or None without them."""
    notify, orcpt = (), None
    for name, value in params.items():
        if name == "NOTIFY" and session.esmtp:
            notify = _notify(value)
        elif name == "ORCPT" and session.esmtp:
            orcpt = _orcpt(value)
        else:
            raise ProtocolError(555, "5.5.4", f"unsupported parameter {name}")
    return (notify, orcpt) if notify or orcpt else None


def _notify(value):
    # RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY.
    words = [] if value is True else value.upper().split(",")
    if words == ["NEVER"]:
        return ("NEVER",)
    if not words or len(set(words)) != len(words) \
            or not set(words) <= set(NOTIFY_EVENTS):
        raise ProtocolError(501, "5.5.4",
                            "syntax: NOTIFY=NEVER or SUCCESS,FAILURE,DELAY")
    return tuple(word for word in NOTIFY_EVENTS if word in words)


def _orcpt(value):
    # RFC 3461 4.2: addr-type ";" xtext, at most 500 characters.
    addr_type, sep, address = ("" if value is True else value).partition(";")
    if not sep or not _ADDR_TYPE.fullmatch(addr_type) or len(value) > MAX_ORCPT:
        raise ProtocolError(501, "5.5.4", "syntax: ORCPT=addr-type;xtext")
    text = xtext(address, "ORCPT")
    if not text or not text.isprintable():
        raise ProtocolError(501, "5.5.4", "syntax: bad ORCPT address")
    return f"{addr_type};{text}"
