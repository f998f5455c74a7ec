"""The DNS lookups of inbound mail checks (SPF, DKIM, DMARC, DNSBLs, reverse DNS),
with dnspython's asynchronous resolver: a slow DNS server costs the session that
waits for it time, never the event loop or the other sessions.

    q = DnsQuery(nameservers, timeout)     # [(address, port)]; [] = the system's
    await q.query(name, rdtype) -> [str]   # the text of each record
    budget = q.budget(seconds)             # one message's lookups, in one budget
    await budget.query(name, rdtype) -> [str]

The text of a record: an address for A/AAAA, the strings joined for TXT (RFC 7208
3.3), "preference exchange" for MX, the target for PTR and CNAME (names without
the final dot), the presentation form otherwise. Answers are kept for their TTL
(no-such-record ones NEGATIVE_TTL seconds) and `cached(name, rdtype)` reads them
from any thread: a busy sender's records cost one lookup, not one per message.

Failure policy: a name that does not exist, has no record of the type or cannot
exist (an empty or over-long label) gives []; a server that fails (SERVFAIL,
REFUSED), does not answer in time, or a budget that is spent raises DnsTempError,
which the checks turn into a temperror result.
"""

import time

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from ..core.config import host_port


CACHE_SIZE = 10000          # answers kept; all are dropped when it is reached
NEGATIVE_TTL = 60           # seconds "no such record" is kept (RFC 2308 caps it
                            # at the SOA minimum; a minute is below most)


class DnsTempError(Exception):
    """A DNS lookup failed for now; the message says which and why."""


class DnsQuery:
    def __init__(self, nameservers=(), timeout=5.0):
        self.timeout = timeout
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        self._answers = {}          # (name, type) -> (expiry, records)
        if nameservers:
            self._resolver.nameservers = [host for host, _ in nameservers]
            self._resolver.nameserver_ports = dict(nameservers)

    @classmethod
    def from_config(cls, cfg):
        """The resolver of `[outbound] nameservers`, the suite's one setting."""
        servers = [host_port(server, 53) for server in cfg.outbound.nameservers]
        return cls(servers, cfg.mailauth.dns_timeout)

    async def query(self, name, rdtype, lifetime=None):
        found = self.cached(name, rdtype)
        if found is not None:
            return found
        lifetime = self.timeout if lifetime is None else min(lifetime, self.timeout)
        try:
            answer = await self._resolver.resolve(name, rdtype, lifetime=lifetime,
                                                  search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.NameTooLong,
                dns.name.LabelTooLong, dns.name.EmptyLabel):
            return self._keep(name, rdtype, [], NEGATIVE_TTL)
        except dns.exception.Timeout:
            raise DnsTempError(f"DNS lookup of {name} {rdtype} timed out") from None
        except dns.exception.DNSException as exc:
            raise DnsTempError(f"DNS lookup of {name} {rdtype} failed: "
                               f"{_short(exc)}") from None
        records = [record_text(rdata) for rdata in answer]
        return self._keep(name, rdtype, records, answer.expiration - time.time())

    def cached(self, name, rdtype):
        """The records of a recent answer, or None; safe from any thread."""
        entry = self._answers.get((name.lower().rstrip("."), rdtype))
        if entry is None or entry[0] < time.monotonic():
            return None
        return list(entry[1])

    def _keep(self, name, rdtype, records, ttl):
        if len(self._answers) >= CACHE_SIZE:
            self._answers.clear()
        self._answers[name.lower().rstrip("."), rdtype] = (time.monotonic() + ttl,
                                                           tuple(records))
        return records

    def budget(self, seconds):
        return Budget(self, seconds)


class Budget:
    """The lookups of one message, which together may take `seconds`."""

    def __init__(self, resolver, seconds):
        self.resolver = resolver
        self.deadline = time.monotonic() + seconds

    def cached(self, name, rdtype):
        return self.resolver.cached(name, rdtype)

    async def query(self, name, rdtype):
        found = self.resolver.cached(name, rdtype)
        if found is not None:
            return found
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DnsTempError(f"DNS lookup of {name} {rdtype}: the message's DNS "
                               "time budget is spent")
        return await self.resolver.query(name, rdtype, lifetime=left)


def record_text(rdata):
    kind = dns.rdatatype.to_text(rdata.rdtype)
    if kind == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if kind in ("A", "AAAA"):
        return rdata.address
    if kind == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if kind in ("PTR", "CNAME"):
        return rdata.target.to_text(omit_final_dot=True)
    return rdata.to_text()


def _short(exc):
    """dnspython's message, cut: a NoNameservers one lists every server's answer."""
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."
