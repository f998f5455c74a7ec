"""DKIM verification (RFC 6376) of a received message by dkimpy (python3-dkim):
rsa-sha256 and ed25519-sha256 (RFC 8463), each signature on its own.

    await verify(budget, message) -> [DkimResult]     # [] when none is signed

The keys are looked up first, all at once, through the message's DNS budget;
dkimpy then checks the signatures in a thread with those answers (its DNS
function only reads them), so no thread ever waits on DNS. The results follow
RFC 8601 2.7.1: pass, fail (the signature or the body hash does not match),
neutral (a DKIM-Signature field that cannot be parsed: RFC 6376 6.1.1),
permerror (no usable key: 6.1.2), temperror (the key lookup failed for now).
At most MAX_SIGNATURES signatures are checked (RFC 6376 6.1: a verifier may
limit them); the others are left out of the results.

Failure policy: nothing in a message or a key record raises; each signature gets
its result and its reason.
"""

import asyncio
import binascii
import logging
import re
from typing import NamedTuple

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from ..dnsquery import DnsTempError

MAX_SIGNATURES = 8
MIN_RSA_BITS = 1024             # RFC 8301 3.2: shorter keys are not valid
_FAULTS = (dkim.DKIMException, binascii.Error, ValueError, KeyError, IndexError,
           TypeError)
# dkimpy logs what it finds wrong; the results say it, once, in our own words.
_quiet = logging.getLogger("mailsuite.dkimpy")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class DkimResult(NamedTuple):
    result: str
    domain: str = ""            # d=
    selector: str = ""          # s=
    algorithm: str = ""         # a=
    reason: str = ""


class Signature(NamedTuple):
    index: int                  # its place among the DKIM-Signature fields
    tags: dict


async def verify(budget, message):
    signatures, results = _signatures(message)
    keys = await fetch_keys(budget, [key_name(s.tags) for s in signatures])
    loop = asyncio.get_running_loop()
    checked = await loop.run_in_executor(None, _check_all, message, signatures, keys)
    return results + checked


def _signatures(message):
    """The parsable signatures, and a neutral result for each of the others."""
    headers, _ = dkim.rfc822_parse(message)
    fields = [value for name, value in headers if name.lower() == b"dkim-signature"]
    signatures, results = [], []
    for index, value in enumerate(fields[:MAX_SIGNATURES]):
        try:
            tags = parse_tag_value(value)
            dkim.validate_signature_fields(tags)
        except (InvalidTagValueList, *_FAULTS) as exc:
            results.append(DkimResult("neutral", reason=f"bad signature: {_why(exc)}",
                                      **_names(value)))
            continue
        signatures.append(Signature(index, tags))
    return signatures, results


async def fetch_keys(budget, names):
    """{name: TXT text, or "" when there is none, or a DnsTempError}."""
    names = list(dict.fromkeys(names))
    found = await asyncio.gather(*(budget.query(n.decode("ascii", "replace"), "TXT")
                                   for n in names), return_exceptions=True)
    keys = {}
    for name, answer in zip(names, found):
        if isinstance(answer, BaseException) and not isinstance(answer, DnsTempError):
            raise answer
        keys[name] = answer if isinstance(answer, DnsTempError) else \
            (answer[0] if len(answer) == 1 else "")
    return keys


def key_name(tags):
    return tags[b"s"] + b"._domainkey." + tags[b"d"] + b"."


def _check_all(message, signatures, keys):
    verifier = dkim.DKIM(message, logger=_quiet, minkey=MIN_RSA_BITS)
    return [_check(verifier, signature, keys) for signature in signatures]


def _check(verifier, signature, keys):
    tags = signature.tags
    names = {"domain": _text(tags[b"d"]), "selector": _text(tags[b"s"]),
             "algorithm": _text(tags[b"a"])}
    key = keys[key_name(tags)]
    if isinstance(key, DnsTempError):
        return DkimResult("temperror", reason=str(key), **names)
    problem = key_problem(key_name(tags), key)
    if problem:
        return DkimResult("permerror", reason=problem, **names)
    try:
        good = verifier.verify(signature.index, dnsfunc=lambda name, timeout=0: key)
    except dkim.ValidationError as exc:
        # dkimpy's message goes on with both hashes: the first words say it.
        return DkimResult("fail", reason=str(exc).partition(" (")[0][:200], **names)
    except _FAULTS as exc:
        return DkimResult("permerror", reason=_why(exc), **names)
    if good:
        return DkimResult("pass", **names)
    return DkimResult("fail", reason="signature did not verify", **names)


def key_problem(name, key):
    """Why the key record `key` cannot be used, or ""."""
    if not key:
        return "no key for signature"
    try:
        dkim.evaluate_pk(name, key)
    except _FAULTS as exc:
        return f"bad key record: {_why(exc)}"
    return ""


def _names(value):
    """d= and s= of a signature that does not parse, when they can be read."""
    found = {}
    for tag, key in ((b"d", "domain"), (b"s", "selector")):
        match = re.search(rb"(?:^|;)\s*" + tag + rb"\s*=\s*([A-Za-z0-9._-]{1,253})",
                          value)
        if match:
            found[key] = match.group(1).decode()
    return found


def _text(value):
    return value.decode("ascii", "replace")[:253]


def _why(exc):
    return f"{type(exc).__name__}: {exc}"[:200]
