"""SPF (RFC 7208) of the HELO and MAIL FROM identities, evaluated by pyspf
(python3-spf) with its DNS lookups routed through the session's resolver.

    await check(budget, ip, helo, sender) -> (mailfrom: SpfResult, helo: SpfResult)

pyspf is synchronous: it runs in a thread of its own pool (THREADS), and each of
its lookups not already in the resolver's cache is handed to the event loop
(dnsquery.Budget), so it shares the message's DNS budget and cache with the
other checks. A thread waits on DNS, not
on CPU, so the pool is larger than the machine's cores.

A busy sender's messages (same client address, HELO and sender) reuse a result
for RESULT_TTL seconds; temperror results are not kept.

Failure policy: a DNS failure or a spent budget is temperror (RFC 7208 2.6.6); a
record that cannot be evaluated is permerror (2.6.7). Neither raises.
"""

import asyncio
import concurrent.futures
import ipaddress
import threading
import time
from typing import NamedTuple

import spf as pyspf

from ..dnsquery import DnsTempError

THREADS = 16
RESULT_TTL = 60             # seconds a result is reused for the same client,
                            # HELO and sender (the DNS answers' own lifetime
                            # in the resolver's cache is about as long)
RESULTS_KEPT = 10000
WAIT_STEP = 0.2            # seconds between looks at the event loop, waiting
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
_pool = concurrent.futures.ThreadPoolExecutor(THREADS, "spf")
_local = threading.local()
_results = {}               # (ip, helo, sender) -> (expiry, results)


class SpfResult(NamedTuple):
    result: str
    identity: str        # "mailfrom" or "helo" (RFC 8601 2.7.2)
    domain: str          # the domain whose policy was asked (or "")
    reason: str = ""


async def check(budget, ip, helo, sender):
    """The MAIL FROM result and the HELO result, in one trip to the pool, or
    from a result of the last RESULT_TTL seconds for the same three values."""
    key = (ip, helo.lower(), sender.lower())
    kept = _results.get(key)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(_pool, _check_both, loop, budget, ip, helo,
                                       sender)
    if "temperror" not in (found[0].result, found[1].result):
        if len(_results) >= RESULTS_KEPT:
            _results.clear()
        _results[key] = (time.monotonic() + RESULT_TTL, found)
    return found


def _check_both(loop, budget, ip, helo, sender):
    if _checkable_helo(helo):
        # RFC 7208 2.3: the HELO identity, checked as postmaster@helo.
        helo_result = _evaluate(loop, budget, ip, f"postmaster@{helo}", helo, "helo")
    else:
        helo_result = SpfResult("none", "helo", "", "HELO is not a domain name")
    if sender:
        mailfrom = _evaluate(loop, budget, ip, sender, helo, "mailfrom")
    elif helo_result.domain:
        # RFC 7208 2.4: a null reverse path is checked as postmaster@ the HELO.
        mailfrom = helo_result._replace(identity="mailfrom")
    else:
        mailfrom = SpfResult("none", "mailfrom", "", "no identity to check")
    return mailfrom, helo_result


def _checkable_helo(helo):
    """RFC 7208 2.3: a HELO that is a domain name (not an address literal)."""
    return bool(helo) and "." in helo and not helo.startswith("[")


def _evaluate(loop, budget, ip, sender, helo, identity):
    domain = sender.rpartition("@")[2].lower()
    _local.ask = lambda name, rdtype: _ask(loop, budget, name, rdtype)
    try:
        result, _, explanation = pyspf.query(i=ip, s=sender, h=helo).check()
    except Exception as exc:
        # pyspf's own faults on hostile records: the record cannot be evaluated.
        result, explanation = "permerror", f"{type(exc).__name__}: {exc}"
    finally:
        _local.ask = None
    if result not in RESULTS:
        result = "permerror"
    return SpfResult(result, identity, domain, str(explanation)[:200])


def _ask(loop, budget, name, rdtype):
    found = budget.cached(name, rdtype)
    if found is not None:
        return found
    future = asyncio.run_coroutine_threadsafe(budget.query(name, rdtype), loop)
    # A loop that stops (the daemon exiting) never runs the query, and a thread
    # waiting for it would keep the process from exiting: wait while it runs,
    # and within the message's DNS budget.
    while True:
        try:
            return future.result(timeout=WAIT_STEP)
        except concurrent.futures.TimeoutError:
            if not loop.is_running() or time.monotonic() > budget.deadline + 1:
                future.cancel()
                raise DnsTempError(f"DNS lookup of {name} {rdtype}: no answer "
                                   "within the message's DNS budget") from None


def _lookup(name, qtype, strict=True, timeout=None):
    """pyspf's DNSLookup: [((name, type), value)], values as pyspf's own
    dnspython driver gives them."""
    try:
        records = _local.ask(name, qtype)
    except DnsTempError as exc:
        raise pyspf.TempError(str(exc)) from None
    return [((name, qtype), _value(qtype, text)) for text in records]


def _value(qtype, text):
    if qtype in ("TXT", "SPF"):
        return [text.encode("utf-8", "replace")]
    if qtype == "MX":
        preference, _, exchange = text.partition(" ")
        return int(preference), exchange
    if qtype in ("A", "AAAA"):
        return str(ipaddress.ip_address(text))
    return text


pyspf.DNSLookup = _lookup
