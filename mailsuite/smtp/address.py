"""SMTP paths: the <…> arguments of MAIL FROM and RCPT TO (RFC 5321 4.1.2).

`parse_path` turns the text after "FROM:" or "TO:" into a `Path` and its parameters,
or raises ProtocolError with the reply the client must get. It accepts exactly the
grammar of RFC 5321 4.1.2, with UTF-8 where RFC 6531 allows it, so that what the
rest of the suite sees is an address it can trust: the local part is unquoted, the
domain lowercased, and source routes are dropped (RFC 5321 C: they are ignored).
"""

import re
from dataclasses import dataclass

from .errors import ProtocolError

# RFC 5321 4.1.2: atext of RFC 5322 3.2.3, plus UTF-8 for SMTPUTF8 (RFC 6531 3.3).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = r"(?:[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*" \
         r"[A-Za-z0-9\u0080-\U0010ffff])?)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[[^\[\]\\\s]+\]")
_ROUTE = re.compile(rf"@{_DOMAIN.pattern}(?:,@{_DOMAIN.pattern})*:")
_PARAM = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+))?")

# RFC 5321 4.5.3.1: size limits of the parts of a path.
MAX_LOCAL = 64
MAX_DOMAIN = 255
MAX_PATH = 256
POSTMASTER = "postmaster"


@dataclass(frozen=True)
class Path:
    local: str = ""
    domain: str = ""
    literal: bool = False

    @property
    def null(self):
        return not self.local and not self.domain

    def __str__(self):
        if self.null:
            return ""
        local = self.local
        if not _DOT_STRING.fullmatch(local):
            local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{local}@{self.domain}"

    @property
    def ascii(self):
        return str(self).isascii()


def parse_path(text, allow_null=False, allow_postmaster=False):
    """Parse '<path> params…'; return (Path, {PARAM: value or True}). With
    allow_postmaster, "<Postmaster>" gives Path("postmaster"), with no domain."""
    text = text.lstrip(" ")  # Postfix and others accept "FROM: <a@b>"
    if not text.startswith("<"):
        raise ProtocolError(501, "5.1.7", "syntax: the address must be in <>")
    end = _path_end(text)
    raw, rest = text[1:end], text[end + 1:]
    # RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets.
    if len(raw.encode()) + 2 > MAX_PATH:
        raise ProtocolError(501, "5.1.7", "address too long")
    params = _parse_params(rest)
    if raw == "":
        if not allow_null:
            raise ProtocolError(501, "5.1.3", "a null address is not allowed here")
        return Path(), params
    # RFC 5321 4.1.1.3: RCPT TO:<Postmaster> with no domain must be accepted, and
    # the local part "postmaster" is case-insensitive (4.5.1).
    if allow_postmaster and raw.lower() == POSTMASTER:
        return Path(POSTMASTER), params
    return _parse_mailbox(raw), params


def _path_end(text):
    """Index of the '>' that closes the path, skipping quoted strings."""
    quoted = escaped = False
    for i, ch in enumerate(text[1:], 1):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return i
    raise ProtocolError(501, "5.1.7", "syntax: missing >")


def _parse_mailbox(raw):
    route = _ROUTE.match(raw)
    if route:
        # RFC 5321 4.1.1.3 and C: source routes MUST be accepted and SHOULD be
        # ignored; only the final mailbox counts.
        raw = raw[route.end():]
    local, rest = _split_local(raw)
    if not rest.startswith("@"):
        raise ProtocolError(501, "5.1.3", "syntax: address needs a domain")
    # Lowercased before the checks: a few letters grow when lowercased
    # ("İ" takes 2 bytes, "i̇" 3), and the limit is for the domain we hand on.
    domain = rest[1:].lower()
    literal = False
    if _ADDRESS_LITERAL.fullmatch(domain):
        literal = True
    elif not _DOMAIN.fullmatch(domain):
        raise ProtocolError(501, "5.1.2", "syntax: bad domain")
    if len(local.encode()) > MAX_LOCAL:
        raise ProtocolError(501, "5.1.3", "local part too long")
    if len(domain.encode()) > MAX_DOMAIN:
        raise ProtocolError(501, "5.1.2", "domain too long")
    return Path(local, domain, literal)


def _split_local(raw):
    """(unquoted local part, rest starting at '@')."""
    if raw.startswith('"'):
        out, i = [], 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            if ch == '"':
                return "".join(out), raw[i + 1:]
            # RFC 5321 4.1.2: qtextSMTP is printable ASCII but " and \.
            if ord(ch) < 32 or ord(ch) == 127:
                raise ProtocolError(501, "5.1.3", "syntax: control character in address")
            out.append(ch)
            i += 1
        raise ProtocolError(501, "5.1.3", "syntax: unterminated quoted string")
    at = raw.rfind("@")
    if at <= 0:
        raise ProtocolError(501, "5.1.3", "syntax: address needs a local part and a domain")
    local = raw[:at]
    if not _DOT_STRING.fullmatch(local):
        raise ProtocolError(501, "5.1.3", "syntax: bad local part")
    return local, raw[at:]


def _parse_params(rest):
    params = {}
    for word in rest.split():
        match = _PARAM.fullmatch(word)
        if not match:
            raise ProtocolError(501, "5.5.4", f"syntax: bad parameter {word[:40]}")
        name = match.group(1).upper()
        # RFC 5321 4.1.2: each parameter at most once (Mail-parameters).
        if name in params:
            raise ProtocolError(501, "5.5.4", f"syntax: duplicate parameter {name[:40]}")
        params[name] = match.group(2) if match.group(2) is not None else True
    return params
