"""ARC chain validation (RFC 8617) of a received message by dkimpy's ARC
verifier; the result is recorded (Authentication-Results), not acted on.

    await validate(budget, message, ip) -> ArcResult

As for DKIM (mailauth.dkimverify), the keys of every ARC-Seal and
ARC-Message-Signature are looked up first through the message's DNS budget, and
dkimpy checks the chain in a thread with those answers.

Results (RFC 8617 4.4, RFC 8601 2.7): none (no ARC set), pass, fail (the chain
does not validate, or has more than MAX_INSTANCES sets: RFC 8617 4.2.1),
temperror (a key lookup failed for now). Nothing in the message raises.
"""

import asyncio
import re
from typing import NamedTuple

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from ..dnsquery import DnsTempError
from .dkimverify import _FAULTS, _quiet, _why, fetch_keys, key_name, split

MAX_INSTANCES = 50
_SEAL_FIELDS = (b"arc-seal", b"arc-message-signature")
_INSTANCE = re.compile(rb"(?:^|;)\s*i\s*=\s*(\d+)")
_ARC_FIELD = re.compile(rb"(?:\A|\n)arc-", re.I)


class ArcResult(NamedTuple):
    result: str
    reason: str = ""
    instances: int = 0


async def validate(budget, message):
    if not _ARC_FIELD.search(message, 0, _header_end(message)):
        return ArcResult("none")
    loop = asyncio.get_running_loop()
    try:
        headers, _ = await loop.run_in_executor(None, split, message)
    except dkim.MessageFormatError as exc:
        return ArcResult("fail", _why(exc))
    fields = [(name.lower(), value) for name, value in headers
              if name.lower() in _SEAL_FIELDS + (b"arc-authentication-results",)]
    if not fields:
        return ArcResult("none")
    instances = {int(m.group(1)) for _, value in fields
                 for m in [_INSTANCE.search(value)] if m}
    if not instances or max(instances) > MAX_INSTANCES:
        return ArcResult("fail", "ARC instances missing or over 50")
    keys = await fetch_keys(budget, _key_names(fields))
    failed = [key for key in keys.values() if isinstance(key, DnsTempError)]
    if failed:
        return ArcResult("temperror", str(failed[0]), max(instances))
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _check, message, keys, max(instances))


def _header_end(message):
    """Where the header section ends (the whole message when it does not)."""
    end = message.find(b"\r\n\r\n")
    return len(message) if end < 0 else end


def _key_names(fields):
    names = []
    for name, value in fields:
        if name in _SEAL_FIELDS:
            try:
                tags = parse_tag_value(value)
                names.append(key_name(tags))
            except (InvalidTagValueList, *_FAULTS):
                continue        # dkimpy finds it broken and fails the chain
    return names


def _check(message, keys, instances):
    try:
        cv, _, reason = dkim.ARC(message, logger=_quiet).verify(
            dnsfunc=lambda name, timeout=0: keys.get(name) or None)
    except _FAULTS as exc:
        return ArcResult("fail", _why(exc), instances)
    text = (cv or dkim.CV_Fail).decode()
    reason = "" if text == "pass" else str(reason)[:200]
    return ArcResult(text, reason, instances)
