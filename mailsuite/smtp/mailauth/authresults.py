"""The Authentication-Results header field (RFC 8601) that smtpd puts on top of
each message it accepts, made with python3-authres, and the removal of the fields
a client wrote in our name.

    field(authserv_id, verdict) -> bytes      # "Authentication-Results: ...\r\n"
    strip_ours(head, authserv_id) -> bytes    # head without fields claiming our id

One field per message, our authserv-id (the server's hostname) first, one result
per method and per DKIM signature, each result on a line of its own (folded with
a tab). Values the client chose (the MAIL FROM address, d=, s=) are written only
when they are plain tokens, so that none can add a result of its own; reasons
lose their control characters and are quoted by authres; a pass has none.
"""

import re

import authres
import authres.arc
import authres.dmarc

_TOKEN = re.compile(r"\A[A-Za-z0-9._-]{1,253}\Z")
_ADDRESS = re.compile(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_FIELD_START = re.compile(rb"(?m)^(?=[^ \t\r\n])")
_OUR_NAME = re.compile(rb"\Aauthentication-results[ \t]*:", re.I)
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")


def field(authserv_id, verdict):
    results = [_spf(verdict.spf, verdict.mailfrom), _spf(verdict.helo)]
    results += [_dkim(result) for result in verdict.dkim] or \
        [authres.DKIMAuthenticationResult(result="none")]
    results += [_dmarc(verdict.dmarc), _arc(verdict.arc, verdict.ip)]
    lines = [authserv_id] + [str(result) for result in results]
    return ("Authentication-Results: " + ";\r\n\t".join(lines) + "\r\n").encode()


def _spf(spf, mailfrom=None):
    kwargs = {}
    if spf.identity == "mailfrom":
        kwargs["smtp_mailfrom"] = _address(mailfrom) or _token(spf.domain)
    else:
        kwargs["smtp_helo"] = _token(spf.domain)
    reason = None if spf.result == "pass" else _reason(spf.reason)
    return authres.SPFAuthenticationResult(result=spf.result, reason=reason,
                                           **kwargs)


def _dkim(dkim):
    return authres.DKIMAuthenticationResult(
        result=dkim.result, reason=_reason(dkim.reason), header_d=_token(dkim.domain),
        header_s=_token(dkim.selector), header_a=_token(dkim.algorithm))


def _dmarc(dmarc):
    return authres.dmarc.DMARCAuthenticationResult(
        result=dmarc.result, reason=_reason(dmarc.reason),
        header_from=_token(dmarc.domain),
        policy=dmarc.policy if dmarc.result in ("pass", "fail") else None)


def _arc(arc, ip):
    return authres.arc.ARCAuthenticationResult(result=arc.result,
                                               reason=_reason(arc.reason),
                                               smtp_remote_ip=ip)


def _token(value):
    return value if value and _TOKEN.match(value) else None


def _address(value):
    return value if value and _ADDRESS.match(value) else None


def _reason(text):
    return _CONTROL.sub(" ", text).strip()[:200] or None if text else None


def strip_ours(head, authserv_id):
    """`head` (a message's first octets) without the Authentication-Results fields
    of its header section that claim `authserv_id`: RFC 8601 5, a border MTA
    removes them, since nobody else may speak for it."""
    section, sep, rest = head.partition(b"\r\n\r\n")
    if not sep:
        return head
    fields = _FIELD_START.split(section + b"\r\n")
    kept = [f for f in fields if not _claims(f, authserv_id)]
    if len(kept) == len(fields):
        return head
    return b"".join(kept) + b"\r\n" + rest


def _claims(field_bytes, authserv_id):
    if not _OUR_NAME.match(field_bytes):
        return False
    value = field_bytes.partition(b":")[2].decode("utf-8", "replace")
    value = _COMMENT.sub(" ", value.replace("\r\n", "")).strip()
    claimed = re.split(r"[\s;]", value, maxsplit=1)[0].strip('"')
    return claimed.lower() == authserv_id.lower()
