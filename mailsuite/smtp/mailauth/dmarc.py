"""DMARC (RFC 7489): the From domain's policy, the alignment of SPF and DKIM
with it, and what to do with a message that fails.

    from_domain(header_section) -> str | None   # NoSingleFrom
    await find_policy(budget, domain) -> Policy | None   # DnsTempError, BadPolicy
    evaluate(domain, policy, spf, dkims, roll) -> DmarcResult

Policy discovery (RFC 7489 6.6.3): the TXT records at _dmarc.<From domain> that
begin with "v=DMARC1", else those at _dmarc.<organizational domain>; not exactly
one: no policy. A record whose p= is missing or unknown is taken as p=none when
it has a rua= (6.6.3 step 6), else it is broken: permerror. Unknown tags are
ignored and bad values of the optional ones fall back to their defaults (6.3).

Failure policy: nothing raises out of `evaluate`; the dispositions are "none",
"quarantine" and "reject" (RFC 7489 6.3), decided with pct= (6.6.4).
"""

import email.utils
import re
from typing import NamedTuple

from .orgdomain import organizational

# A From field and its continuation lines (RFC 5322 2.2.3, 3.6.2).
_FROM = re.compile(rb"^from[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
DISPOSITIONS = ("none", "quarantine", "reject")


class NoSingleFrom(Exception):
    """The message has several From fields, or one that names several domains."""


class BadPolicy(Exception):
    """The domain's DMARC record is broken; the message says how."""


class Policy(NamedTuple):
    domain: str             # where the record was found
    p: str
    sp: str
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"


class DmarcResult(NamedTuple):
    result: str             # pass, fail, none, permerror, temperror
    domain: str             # the From domain
    policy: str = "none"    # the policy that applies (p or sp)
    disposition: str = "none"
    reason: str = ""


def from_domain(header_section):
    """The author domain, or None for a message without a From field (which
    RFC 5322 3.6 forbids; without an author there is no policy to apply). RFC
    7489 6.6.1: several From fields, or one naming several domains, have no
    single author domain, and are refused (NoSingleFrom): a verifier that took
    either one would let the other through unchecked."""
    fields = [_unfold(match.group(1)) for match in _FROM.finditer(header_section)]
    if not fields:
        return None
    if len(fields) > 1:
        raise NoSingleFrom(f"{len(fields)} From fields")
    domains = {address.rpartition("@")[2].strip().lower().rstrip(".")
               for _, address in email.utils.getaddresses(fields) if "@" in address}
    domains.discard("")
    if len(domains) > 1:
        raise NoSingleFrom("the From field names several domains")
    if not domains:
        return None
    domain = domains.pop()
    if not (domain.isascii() or _idna(domain)):
        raise NoSingleFrom("the From domain is not a domain name")
    return domain


def _unfold(value):
    return re.sub(rb"\r?\n(?=[ \t])", b"", value).decode("utf-8", "replace")


def _idna(domain):
    try:
        domain.encode("idna")
    except UnicodeError:
        return False
    return True


async def find_policy(budget, domain):
    policy = await _record_at(budget, domain)
    if policy is None:
        org = organizational(domain)
        if org != domain:
            policy = await _record_at(budget, org)
    return policy


async def _record_at(budget, domain):
    records = [text for text in await budget.query(f"_dmarc.{domain}", "TXT")
               if text.replace(" ", "").upper().startswith("V=DMARC1")]
    if len(records) != 1:
        return None
    return parse(domain, records[0])


def parse(domain, text):
    tags = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1":
        raise BadPolicy(f"_dmarc.{domain}: the record does not begin with v=DMARC1")
    p = tags.get("p", "").lower()
    if p not in DISPOSITIONS:
        if "rua" not in tags:
            raise BadPolicy(f"_dmarc.{domain}: no valid p= tag")
        p = "none"
    sp = tags.get("sp", "").lower()
    return Policy(domain, p, sp if sp in DISPOSITIONS else p,
                  _pct(tags.get("pct")), _mode(tags.get("adkim")),
                  _mode(tags.get("aspf")))


def _pct(value):
    try:
        pct = int(value)
    except (TypeError, ValueError):
        return 100
    return pct if 0 <= pct <= 100 else 100


def _mode(value):
    return value.lower() if value and value.lower() in ("r", "s") else "r"


def aligned(domain, other, mode):
    """RFC 7489 3.1.1, 3.1.2: strict is the same name, relaxed the same
    organizational domain."""
    if not other:
        return False
    other = other.lower().rstrip(".")
    if mode == "s":
        return domain == other
    return organizational(domain) == organizational(other)


def evaluate(domain, policy, spf, dkims, roll):
    """The result for the From `domain` given its Policy, the MAIL FROM SpfResult
    and the DkimResults; `roll` is a number in [0, 100) drawn for pct=."""
    if policy is None:
        return DmarcResult("none", domain)
    # RFC 7489 4.2: a pass of either aligned identifier is a DMARC pass.
    spf_ok = spf.result == "pass" and aligned(domain, spf.domain, policy.aspf)
    dkim_ok = any(d.result == "pass" and aligned(domain, d.domain, policy.adkim)
                  for d in dkims)
    # RFC 7489 6.3: sp= is the policy of the subdomains of the record's domain.
    applies = policy.sp if domain != policy.domain else policy.p
    if spf_ok or dkim_ok:
        return DmarcResult("pass", domain, applies)
    # A lookup that failed for now might have passed: no disposition on it.
    if spf.result == "temperror" or any(d.result == "temperror" for d in dkims):
        return DmarcResult("temperror", domain, applies,
                           reason="an SPF or DKIM lookup failed for now")
    return DmarcResult("fail", domain, applies, _sampled(applies, policy.pct, roll))


def _sampled(applies, pct, roll):
    """RFC 7489 6.6.4: the policy applies to pct% of the failing messages; the
    others get the next weaker one (reject -> quarantine -> none)."""
    if roll < pct:
        return applies
    return DISPOSITIONS[max(DISPOSITIONS.index(applies) - 1, 0)]
