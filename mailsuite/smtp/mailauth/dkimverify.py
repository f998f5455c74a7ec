"""DKIM verification (RFC 6376) of a received message by dkimpy (python3-dkim):
rsa-sha256 and ed25519-sha256 (RFC 8463), each signature on its own.

    await verify(budget, message) -> [DkimResult]     # [] when none is signed

The keys are looked up first, all at once, through the message's DNS budget;
then, in a thread, dkimpy parses the message and the signatures and hashes the
signed header fields, the body hash is computed once for all the signatures
that share a canonicalization, and OpenSSL (RSA) or libsodium (Ed25519) checks
the signature with the key, parsed once per key record (load_key). The results follow
RFC 8601 2.7.1: pass, fail (the signature or the body hash does not match),
neutral (a DKIM-Signature field that cannot be parsed: RFC 6376 6.1.1),
permerror (no usable key: 6.1.2), temperror (the key lookup failed for now).
At most MAX_SIGNATURES signatures are checked (RFC 6376 6.1: a verifier may
limit them); the others are left out of the results.

Failure policy: nothing in a message or a key record raises; each signature gets
its result and its reason.
"""

import asyncio
import base64
import binascii
import functools
import hashlib
import logging
import re
from typing import NamedTuple

import dkim
import nacl.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList, parse_tag_value

from ...core.dkim import BodyHash
from ..dnsquery import DnsTempError

MAX_SIGNATURES = 8
INLINE_MAX = 64 << 10
MIN_RSA_BITS = 1024             # RFC 8301 3.2: shorter keys are not valid
_HASHES = (b"rsa-sha256", b"ed25519-sha256")
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
    field: tuple                # (name, value) as dkimpy parsed it
    tags: dict


async def verify(budget, message):
    """The keys in the resolver's cache (a busy sender's) are used at once, the
    others looked up first. A message up to INLINE_MAX bytes is verified on the
    event loop (a millisecond, less than a trip to a thread costs: the work
    holds the GIL either way), a larger one in a thread."""
    run = _inline if len(message) <= INLINE_MAX else _in_thread
    parsed, signatures, results, checked = await run(_parse_and_check, message,
                                                     budget)
    if checked is None:
        keys = await fetch_keys(budget, [key_name(s.tags) for s in signatures])
        checked = await run(_check_all, parsed, signatures, keys)
    return results + checked


async def _inline(function, *args):
    return function(*args)


async def _in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def _parse_and_check(message, budget):
    parsed, signatures, results = _parse(message)
    keys = {}
    for signature in signatures:
        name = key_name(signature.tags)
        found = budget.cached(name.decode("ascii", "replace"), "TXT")
        if found is None:
            return parsed, signatures, results, None
        keys[name] = found[0] if len(found) == 1 else ""
    return parsed, signatures, results, _check_all(parsed, signatures, keys)


class Parsed(NamedTuple):
    headers: list               # [[name, value]] as dkimpy's rfc822_parse gives
    body: bytes


def _parse(message):
    """The message parsed, its parsable signatures, and a neutral result for
    each of the others (and for all of them when the header section cannot be
    parsed: a line that is no field)."""
    try:
        parsed = split(message)
    except dkim.MessageFormatError as exc:
        signed = b"dkim-signature" in message[:_header_end(message)].lower()
        return Parsed([], b""), [], [DkimResult("neutral", reason=_why(exc))] * signed
    fields = [(name, value) for name, value in parsed.headers
              if name.lower() == b"dkim-signature"]
    signatures, results = [], []
    for field in fields[:MAX_SIGNATURES]:
        value = field[1]
        try:
            tags = parse_tag_value(value)
            dkim.validate_signature_fields(tags)
        except (InvalidTagValueList, *_FAULTS) as exc:
            results.append(DkimResult("neutral", reason=f"bad signature: {_why(exc)}",
                                      **_names(value)))
            continue
        signatures.append(Signature(field, tags))
    return parsed, signatures, results


def split(message):
    """The header fields (dkimpy's parser, given the header section alone) and
    the body; raises dkim.MessageFormatError."""
    end = _header_end(message)
    headers, _ = dkim.rfc822_parse(message[:end + 2])
    return Parsed(headers, message[end + 4:])


def _header_end(message):
    """Where the header section's last CRLF begins (the whole message when the
    blank line never comes); -2 when the message starts with its body."""
    if message.startswith(b"\r\n"):
        return -2
    end = message.find(b"\r\n\r\n")
    return len(message) if end < 0 else end


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


def _check_all(parsed, signatures, keys):
    body_hashes = {}
    return [_check(parsed, signature, keys, body_hashes) for signature in signatures]


def _check(parsed, signature, keys, body_hashes):
    tags = signature.tags
    names = {"domain": _text(tags[b"d"]), "selector": _text(tags[b"s"]),
             "algorithm": _text(tags[b"a"])}
    key = keys[key_name(tags)]
    if isinstance(key, DnsTempError):
        return DkimResult("temperror", reason=str(key), **names)
    if not key:
        return DkimResult("permerror", reason="no key for signature", **names)
    try:
        public = load_key(key)
    except _FAULTS as exc:
        return DkimResult("permerror", reason=f"bad key record: {_why(exc)}", **names)
    try:
        problem = _unusable(tags, public)
        if problem:
            return DkimResult("permerror", reason=problem, **names)
        good = _verified(parsed, signature, public, body_hashes)
    except _FAULTS as exc:
        return DkimResult("permerror", reason=_why(exc), **names)
    if good is True:
        return DkimResult("pass", **names)
    return DkimResult("fail", reason=good, **names)


class PublicKey(NamedTuple):
    kind: bytes             # b"rsa" or b"ed25519"
    key: object             # cryptography's RSA key, PyNaCl's VerifyKey
    bits: int


@functools.lru_cache(maxsize=1024)
def load_key(text):
    """The key of a DKIM key record (RFC 6376 3.6.1), read once per text: dkimpy
    checks the record, OpenSSL verifies (decision 0011: dkimpy's pure-Python RSA
    costs milliseconds a message). Raises KeyFormatError for a record that is
    not a key."""
    public, bits, kind, _ = dkim.evaluate_pk(b"key", text)
    if public is None:
        raise dkim.KeyFormatError("the key is not for email (s= tag)")
    if kind == b"rsa":
        public = rsa.RSAPublicNumbers(public["publicExponent"],
                                      public["modulus"]).public_key()
    return PublicKey(kind, public, bits)


def _unusable(tags, public):
    """Why the key cannot check this signature, or ""."""
    algorithm = tags[b"a"].lower()
    if algorithm not in _HASHES:
        # RFC 8301 3.1: rsa-sha1 is not valid any more.
        return f"algorithm {_text(algorithm)} not accepted"
    if not algorithm.startswith(public.kind + b"-"):
        return "the key is not of the signature's algorithm"
    if public.kind == b"rsa" and public.bits < MIN_RSA_BITS:
        return f"RSA key of {public.bits} bits (RFC 8301 3.2: 1024 at least)"
    return ""


def _verified(parsed, signature, public, body_hashes):
    """True, or why the signature does not verify."""
    sig = signature.tags
    include = [name.lower() for name in re.split(rb"\s*:\s*", sig[b"h"])]
    policy = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
    length = int(sig[b"l"]) if b"l" in sig else None
    body_key = (sig.get(b"c", b"simple/simple").split(b"/")[-1], length)
    if body_key not in body_hashes:
        body_hashes[body_key] = _body_hash(parsed.body, policy, *body_key)
    if body_hashes[body_key] != base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"])):
        return "body hash mismatch"
    # RFC 6376 5.4.2: a From field not signed twice may have been added.
    if b"from" in include:
        include.append(b"from")
    hasher = hashlib.sha256()
    signed = dkim.select_headers(parsed.headers, include)
    dkim.hash_headers(hasher, policy, policy.canonicalize_headers(signed), include,
                      signature.field, sig)
    value = base64.b64decode(re.sub(rb"\s+", b"", sig[b"b"]))
    try:
        if public.kind == b"rsa":
            public.key.verify(value, hasher.digest(), padding.PKCS1v15(),
                              utils.Prehashed(hashes.SHA256()))
        else:
            public.key.verify(hasher.digest(), value)
    except (InvalidSignature, nacl.exceptions.BadSignatureError,
            nacl.exceptions.ValueError):
        return "signature did not verify"
    return True


def _body_hash(body, policy, canonicalization, length):
    """RFC 6376 3.7's body hash; the common case (relaxed, whole body) by
    core.dkim's BodyHash, several times faster than dkimpy's."""
    if canonicalization == b"relaxed" and length is None:
        hasher = BodyHash()
        hasher.update(body)
        return hasher.digest()
    return hashlib.sha256(policy.canonicalize_body(body)[:length]).digest()


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
