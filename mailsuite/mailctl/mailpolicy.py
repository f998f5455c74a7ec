"""The mail policies a domain publishes in DNS TXT records, parsed for `mailctl
doctor`: SPF (RFC 7208), DKIM keys (RFC 6376), DMARC (RFC 7489), MTA-STS (RFC
8461) and TLS-RPT (RFC 8460).

    class PolicyError(ValueError)            # the message says what is wrong
    select(texts, version) -> str | None     # the one record of that version
    tags(text) -> {tag: value}               # a "tag=value; ..." list
    dkim_key(text) -> DKIMKey(algorithm, key)
    dmarc(text), mta_sts(text), tls_rpt(text) -> {tag: value}   # checked
    spf_terms(text) -> [Term(qualifier, name, argument)]

Only the syntax is checked here; what a record means for this server (does SPF
let it send, is the DKIM key ours) is mailctl.dnschecks's work.
"""

import base64
import binascii
import re
from typing import NamedTuple

# RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC.
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
DMARC_POLICIES = ("none", "quarantine", "reject")
SPF_QUALIFIERS = "+-~?"
SPF_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")


class PolicyError(ValueError):
    """A record is malformed; the message says how."""


class DKIMKey(NamedTuple):
    algorithm: str
    key: bytes      # the public key's bytes (p=, decoded); empty when revoked


class Term(NamedTuple):
    qualifier: str  # one of SPF_QUALIFIERS; "" for a modifier
    name: str       # a mechanism, or a modifier's name ("redirect", "exp")
    argument: str   # what follows ":", "/" or "=", "" when nothing does


def select(texts, version):
    """The record among `texts` whose first tag is `version` ("v=DMARC1"), or
    None. Records of other kinds are ignored (RFC 7489 6.6.3, RFC 8461 3.1,
    RFC 8460 3, RFC 7208 4.5); more than one of this kind is an error there."""
    prefix = re.compile(rf"\s*{re.escape(version)}(?![A-Za-z0-9])", re.IGNORECASE)
    found = [text for text in texts if prefix.match(text)]
    if len(found) > 1:
        raise PolicyError(f"{len(found)} records start with {version}; there must "
                          "be one")
    return found[0] if found else None


def tags(text):
    """{tag: value} of a tag list (RFC 6376 3.2): "tag=value" separated by ";",
    white space around either, a last ";" allowed, no tag twice."""
    found = {}
    parts = text.split(";")
    if parts and not parts[-1].strip():
        parts.pop()
    for part in parts:
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not _TAG_NAME.fullmatch(name):
            raise PolicyError(f"not a tag=value pair: {part.strip()!r}")
        if name in found:
            raise PolicyError(f"the tag {name} appears twice")
        found[name] = value.strip()
    return found


def _versioned(text, version):
    """The tags of a record whose first tag must be v=<version>."""
    found = tags(text)
    if next(iter(found.items()), None) != ("v", version):
        raise PolicyError(f"the record must start with v={version}")
    return found


def dkim_key(text):
    """The key of a DKIM key record (RFC 6376 3.6.1): k= (default rsa) and p=,
    base64 with any white space in it."""
    found = tags(text)
    if "v" in found and (list(found)[0] != "v" or found["v"] != "DKIM1"):
        raise PolicyError("v= must be first and DKIM1")
    if "p" not in found:
        raise PolicyError("no p= (public key) tag")
    try:
        key = base64.b64decode("".join(found["p"].split()), validate=True)
    except binascii.Error:
        raise PolicyError("p= is not base64") from None
    return DKIMKey(found.get("k", "rsa"), key)


def dmarc(text):
    """A DMARC record's tags, checked (RFC 7489 6.3, 6.4)."""
    found = _versioned(text, "DMARC1")
    if "p" not in found:
        raise PolicyError("no p= (policy) tag")
    for tag in ("p", "sp"):
        if tag in found and found[tag].lower() not in DMARC_POLICIES:
            raise PolicyError(f"{tag}= must be none, quarantine or reject, "
                              f"not {found[tag]!r}")
    for tag in ("adkim", "aspf"):
        if tag in found and found[tag].lower() not in ("r", "s"):
            raise PolicyError(f"{tag}= must be r or s, not {found[tag]!r}")
    if "pct" in found and not (found["pct"].isdigit() and int(found["pct"]) <= 100):
        raise PolicyError(f"pct= must be from 0 to 100, not {found['pct']!r}")
    for tag in ("rua", "ruf"):
        if tag in found:
            _uris(tag, found[tag], ("mailto",))
    return found


def mta_sts(text):
    """An MTA-STS record's tags, checked (RFC 8461 3.1)."""
    found = _versioned(text, "STSv1")
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", found.get("id", "")):
        raise PolicyError("id= must be 1 to 32 letters and digits")
    return found


def tls_rpt(text):
    """A TLS-RPT record's tags, checked (RFC 8460 3)."""
    found = _versioned(text, "TLSRPTv1")
    if "rua" not in found:
        raise PolicyError("no rua= (where reports go) tag")
    _uris("rua", found["rua"], ("mailto", "https"))
    return found


def _uris(tag, value, schemes):
    """A comma-separated list of report addresses: mailto: with an "@", https:."""
    for uri in value.split(","):
        scheme, colon, rest = uri.strip().partition(":")
        if not colon or scheme.lower() not in schemes or not rest:
            raise PolicyError(f"{tag}= must list {' or '.join(s + ':' for s in schemes)}"
                              f" addresses, not {uri.strip()!r}")
        if scheme.lower() == "mailto" and "@" not in rest:
            raise PolicyError(f"{tag}=: not a mail address: {uri.strip()!r}")


def spf_terms(text):
    """The terms after "v=spf1" (RFC 7208 4.6.1), in order."""
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        raise PolicyError("the record must start with v=spf1")
    return [_spf_term(word) for word in words[1:]]


def _spf_term(word):
    modifier = re.fullmatch(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)", word)
    if modifier:
        return Term("", modifier.group(1).lower(), modifier.group(2))
    qualifier = word[0] if word[0] in SPF_QUALIFIERS else "+"
    rest = word[1:] if word[0] in SPF_QUALIFIERS else word
    name, argument = re.fullmatch(r"([A-Za-z0-9]*)[:/]?(.*)", rest).groups()
    if name.lower() not in SPF_MECHANISMS:
        raise PolicyError(f"unknown mechanism {word!r}")
    if name.lower() in ("ip4", "ip6", "include", "exists") and not argument:
        raise PolicyError(f"{name}: needs an argument")
    if rest[len(name):].startswith("/"):
        argument = ""        # a/24, mx/24: a prefix length, no domain
    return Term(qualifier, name.lower(), argument)
