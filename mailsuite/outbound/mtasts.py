"""MTA-STS (RFC 8461): a destination domain's policy on how its MX hosts must
be reached, discovered through its `_mta-sts` TXT record, fetched over HTTPS
from mta-sts.<domain>, and kept in the state dir for its max_age.

    sts = MtaSts(resolver, cache_dir, context, timeout)
    await sts.policy(domain) -> StsPolicy | None      # None: no policy in force
    parse(text) -> StsPolicy;   policy.allows(mx_name) -> bool

Failure policy: MTA-STS never makes mail fail by itself. A TXT record that is
missing or malformed, or a policy that cannot be fetched, leaves the cached
policy in force while it has not expired, and else no policy at all (RFC 8461
3.3, 5.1); each fetch failure is one log line. A cache file that cannot be
read is treated as absent, one that cannot be written is logged and the
policy used from memory.
"""

import asyncio
import json
import logging
import os
import re
import time
from typing import NamedTuple

from ..core import files
from .status import REPLY_TEXT_MAX, DeliveryFailed

log = logging.getLogger("deliverd")

POLICY_PATH = "/.well-known/mta-sts.txt"
BODY_MAX = 64 << 10        # RFC 8461 3.3: a policy larger than 64 KB may be refused
HEAD_MAX = 16 << 10        # bytes of status line and header fields read
MAX_AGE_MAX = 31557600     # RFC 8461 3.2: max_age is at most a year
MODES = ("enforce", "testing", "none")
DOMAIN = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)+")


class PolicyError(Exception):
    """The policy cannot be used: the message says why."""


class StsPolicy(NamedTuple):
    id: str                  # the TXT record's id when it was fetched
    mode: str                # enforce | testing | none
    mx: tuple                # patterns: "mx.example.com", "*.example.net"
    max_age: int
    fetched: float           # when (time.time())

    @property
    def expired(self):
        return time.time() >= self.fetched + self.max_age

    def allows(self, host):
        """RFC 8461 4.1: `host` matches one of the mx patterns; a "*." matches
        exactly one leftmost label."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                label, dot, rest = host.partition(".")
                if label and dot and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse(text, policy_id="", fetched=0.0):
    """The policy in `text` (RFC 8461 3.2: "key: value" lines, LF or CRLF);
    raises PolicyError."""
    fields = {}
    mx = []
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)
    if fields.get("version") != "STSv1":
        raise PolicyError("version is not STSv1")
    if fields.get("mode") not in MODES:
        raise PolicyError(f"mode must be one of {', '.join(MODES)}")
    max_age = fields.get("max_age", "")
    if not (max_age.isdigit() and len(max_age) <= 10 and int(max_age) <= MAX_AGE_MAX):
        raise PolicyError(f"max_age must be a number of seconds up to {MAX_AGE_MAX}")
    if fields["mode"] != "none" and not mx:
        raise PolicyError("no mx patterns")
    return StsPolicy(policy_id, fields["mode"], tuple(mx), int(max_age), fetched)


def record_id(texts):
    """The id of the one STSv1 record among the TXT strings (RFC 8461 3.1),
    or None when there is not exactly one valid record."""
    records = [t for t in texts if re.match(r"v=STSv1\s*(;|$)", t)]
    if len(records) != 1:
        return None
    found = re.search(r"(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)", records[0])
    return found.group(1) if found else None


class MtaSts:
    def __init__(self, resolver, cache_dir, context, timeout):
        self.resolver, self.context, self.timeout = resolver, context, timeout
        self.cache = PolicyCache(cache_dir)
        self.pending = {}          # domain -> Future of the discovery under way

    async def policy(self, domain):
        """The policy in force for `domain`, or None (also for mode none)."""
        if not DOMAIN.fullmatch(domain):
            return None           # an address literal: no name to ask
        if domain not in self.pending:
            self.pending[domain] = asyncio.ensure_future(self._discover(domain))
            self.pending[domain].add_done_callback(
                lambda _: self.pending.pop(domain, None))
        policy = await asyncio.shield(self.pending[domain])
        return policy if policy is not None and policy.mode != "none" else None

    async def _discover(self, domain):
        """RFC 8461 3.3, 5.1: a fresh policy when the TXT id differs from the
        cached one's, else the cached policy while it lasts."""
        cached = await self.cache.get(domain)
        if cached is not None and cached.expired:
            cached = None
        try:
            policy_id = record_id(await self.resolver.text(f"_mta-sts.{domain}"))
        except DeliveryFailed:
            policy_id = None
        if policy_id is None or (cached is not None and cached.id == policy_id):
            return cached
        try:
            policy = parse(await self._fetch(domain), policy_id, time.time())
        except (PolicyError, DeliveryFailed) as exc:
            log.info("mta-sts: %s: no policy fetched: %s", domain, exc)
            return cached
        await self.cache.put(domain, policy)
        log.info("mta-sts: %s: policy %s, mode %s, mx %s, max_age %d", domain,
                 policy_id, policy.mode, " ".join(policy.mx)[:REPLY_TEXT_MAX],
                 policy.max_age)
        return policy

    async def _fetch(self, domain):
        """The policy text over HTTPS (RFC 8461 3.3: a certificate valid for
        mta-sts.<domain>, no redirects, text/plain); raises PolicyError."""
        host = f"mta-sts.{domain}"
        [found] = await self.resolver.host(host)
        why = "no address"
        for address in found.addresses:
            try:
                return await asyncio.wait_for(self._get(host, address), self.timeout)
            except asyncio.TimeoutError:
                why = "timed out"
            except OSError as exc:
                why = exc.strerror or str(exc)
        raise PolicyError(f"https://{host}{POLICY_PATH}: {why}")

    async def _get(self, host, address):
        reader, writer = await asyncio.open_connection(
            address, 443, ssl=self.context, server_hostname=host)
        try:
            # HTTP/1.0: the body ends with the connection, never chunked.
            writer.write(f"GET {POLICY_PATH} HTTP/1.0\r\nHost: {host}\r\n"
                         "User-Agent: mailsuite\r\n\r\n".encode())
            response = await reader.read(HEAD_MAX + BODY_MAX + 1)
            while response and len(response) <= HEAD_MAX + BODY_MAX:
                more = await reader.read(HEAD_MAX + BODY_MAX + 1 - len(response))
                if not more:
                    break
                response += more
        finally:
            writer.close()
        return _body(host, response)


def _body(host, response):
    head, blank, body = response.partition(b"\r\n\r\n")
    if not blank or len(head) > HEAD_MAX:
        raise PolicyError(f"https://{host}{POLICY_PATH}: not an HTTP response")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = lines[0].split(" ", 2)
    # RFC 8461 3.3: redirects are not followed; only 200 is a policy.
    if len(status) < 2 or status[1] != "200":
        raise PolicyError(f"https://{host}{POLICY_PATH}: {lines[0][:200]}")
    fields = {k.strip().lower(): v.strip() for k, _, v in
              (line.partition(":") for line in lines[1:])}
    # RFC 8461 3.2: the policy is served as text/plain.
    if fields.get("content-type", "").split(";")[0].strip().lower() != "text/plain":
        raise PolicyError(f"https://{host}{POLICY_PATH}: content type is not "
                          f"text/plain: {fields.get('content-type', 'none')[:80]}")
    if len(body) > BODY_MAX:
        raise PolicyError(f"https://{host}{POLICY_PATH}: larger than {BODY_MAX} bytes")
    return body.decode("utf-8", "replace")


class PolicyCache:
    """One JSON file per domain in `root`, written atomically; read off the
    event loop once, then kept in memory."""

    def __init__(self, root):
        self.root = root
        self.memory = {}

    async def get(self, domain):
        if domain not in self.memory:
            loop = asyncio.get_running_loop()
            self.memory[domain] = await loop.run_in_executor(None, self._read, domain)
        return self.memory[domain]

    async def put(self, domain, policy):
        self.memory[domain] = policy
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._write, domain, policy)
        except OSError as exc:
            log.warning("mta-sts: %s: policy not cached on disk: %s", domain,
                        exc.strerror or exc)

    def _read(self, domain):
        try:
            with open(self.root / domain, encoding="utf-8") as file:
                fields = json.load(file)
            return StsPolicy(**{**fields, "mx": tuple(fields["mx"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _write(self, domain, policy):
        os.makedirs(self.root, mode=0o750, exist_ok=True)
        data = json.dumps(policy._asdict()).encode()
        files.write_atomic(self.root / domain, data, 0o640)
