"""Where mail for a domain goes: its mail hosts in the order to try them, each
with its addresses (RFC 5321 5.1), looked up with dnspython's asynchronous
resolver in one time budget per destination.

    Resolver(nameservers, timeout)          # [(address, port)]; [] = the system's
    await resolver.route(domain) -> [Host(name, addresses)]
    await resolver.host(name) -> [Host(name, addresses)]     # a relay host

MX records in preference order, equal preferences in random order; no MX
record: the domain itself (the implicit MX); a null MX (RFC 7505): no host at
all. Each host's IPv6 addresses are tried before its IPv4 ones.

With `trust_ad`, the answers' AD bit is believed (RFC 4035 3.2.3: only from a
validating resolver the client trusts, which is why it is set only for the
configured nameservers): a Host is `secure` when its MX answer and its address
answers were all validated, the precondition of DANE (RFC 7672 2.2), and
`tlsa()` says whether its TLSA answer was.

Failure policy: an answer that says the mail can never go (no such domain, a
null MX, no address anywhere) raises a permanent DeliveryFailed; a DNS server
that fails or does not answer in time raises a temporary one, and the message
waits for its next attempt.
"""

import asyncio
import ipaddress
import random
import time
from typing import NamedTuple

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.resolver

from .status import DeliveryFailed


class Host(NamedTuple):
    name: str
    addresses: list
    secure: bool = False      # MX and address records validated (DNSSEC)


class Addresses(NamedTuple):
    addresses: list
    secure: bool


class Tlsa(NamedTuple):
    usage: int
    selector: int
    mtype: int
    data: bytes


class Resolver:
    def __init__(self, nameservers=(), timeout=30.0, own_names=(), trust_ad=False):
        self.timeout = timeout
        self.trust_ad = trust_ad
        self.own_names = {name.lower().rstrip(".") for name in own_names}
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        self._resolver.cache = dns.resolver.Cache()     # answers kept for their TTL
        if nameservers:
            self._resolver.nameservers = [host for host, _ in nameservers]
            self._resolver.nameserver_ports = dict(nameservers)
        if trust_ad:
            # RFC 6840 5.7, 5.9: AD in the query asks for the AD bit; DO asks
            # for DNSSEC records, which a validating resolver then checks.
            self._resolver.use_edns(0, dns.flags.DO, 1232)
            self._resolver.flags = dns.flags.RD | dns.flags.AD

    async def route(self, domain):
        """The hosts to try for `domain`, in order; raises DeliveryFailed."""
        deadline = time.monotonic() + self.timeout
        literal = _address_literal(domain)
        if literal is not None:
            return [Host(domain, [literal])]
        names, mx_secure = await self._mail_hosts(domain, deadline)
        # RFC 5321 5.1: a host that names this server is left out, with the
        # hosts of worse preference; mail would come back here.
        for index, name in enumerate(names):
            if name in self.own_names:
                names = names[:index]
                if not names:
                    raise DeliveryFailed("5.4.6", f"mail for {domain} loops back "
                                                  "to this server")
                break
        found = await asyncio.gather(*(self._addresses(n, deadline) for n in names))
        hosts = [Host(name, result.addresses, mx_secure and result.secure)
                 for name, result in zip(names, found) if result and result.addresses]
        if hosts:
            return hosts
        if any(result is None for result in found):
            raise DeliveryFailed("4.4.3", f"{domain}: DNS lookup of its mail "
                                          "hosts' addresses failed")
        raise DeliveryFailed("5.4.4", f"{domain}: no address for its mail hosts "
                                      f"({', '.join(names)})")

    async def host(self, name):
        """The host `name` (a relay host: no MX lookup), or an address as is;
        raises DeliveryFailed."""
        try:
            return [Host(name, [str(ipaddress.ip_address(name))])]
        except ValueError:
            pass
        found = await self._addresses(name, time.monotonic() + self.timeout)
        if found is None:
            raise DeliveryFailed("4.4.3", f"DNS lookup of {name} failed")
        if not found.addresses:
            raise DeliveryFailed("4.4.4", f"{name}: no address")
        return [Host(name, found.addresses)]

    async def tlsa(self, name, port=25):
        """The TLSA records of `name` for SMTP (RFC 7672 2.2.3:
        _25._tcp.name) and whether they were validated: ([Tlsa], secure); a
        name without any gives ([], secure). Raises DeliveryFailed when the
        lookup fails (RFC 7672 2.2.2: the host cannot be used then)."""
        qname = f"_{port}._tcp.{name}"
        try:
            answer = await self._query(qname, "TLSA", time.monotonic() + self.timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
            return [], self._secure(_negative_response(exc))
        return ([Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in answer],
                self._secure(answer.response))

    async def text(self, name):
        """The TXT strings of `name`, each record's strings joined (RFC 7208
        3.3); [] when it has none. Raises DeliveryFailed when the lookup fails."""
        try:
            answer = await self._query(name, "TXT", time.monotonic() + self.timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]

    def _secure(self, response):
        return bool(self.trust_ad and response is not None
                    and response.flags & dns.flags.AD)

    async def _mail_hosts(self, domain, deadline):
        """The MX host names in the order to try (or the implicit MX), and
        whether the MX answer was validated."""
        try:
            answer = await self._query(domain, "MX", deadline)
        except dns.resolver.NXDOMAIN:
            raise DeliveryFailed("5.1.2", f"{domain}: no such domain") from None
        except dns.resolver.NoAnswer as exc:
            # RFC 5321 5.1: no MX record: the domain is its own mail host.
            return [domain.lower().rstrip(".")], self._secure(_negative_response(exc))
        records = list(answer)
        # RFC 7505 3: a lone MX of preference 0 whose exchange is "." says the
        # domain accepts no mail; 4.1: the sender bounces at once (5.1.10).
        real = [r for r in records if r.exchange != dns.name.root]
        if not real:
            raise DeliveryFailed("5.1.10", f"{domain} accepts no mail (null MX, "
                                           "RFC 7505)")
        return _in_preference_order(real), self._secure(answer.response)

    async def _addresses(self, name, deadline):
        """IPv6 then IPv4 addresses of `name` (Addresses), secure when every
        answer was validated; None if both lookups failed."""
        results = await asyncio.gather(self._records(name, "AAAA", deadline),
                                       self._records(name, "A", deadline))
        if all(r is None for r in results):
            return None
        found = [r for r in results if r is not None]
        return Addresses([a for r in found for a in r.addresses],
                         all(r.secure for r in found))

    async def _records(self, name, rdtype, deadline):
        try:
            answer = await self._query(name, rdtype, deadline)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as exc:
            return Addresses([], self._secure(_negative_response(exc)))
        except DeliveryFailed:
            return None
        return Addresses([rdata.address for rdata in answer],
                         self._secure(answer.response))

    async def _query(self, name, rdtype, deadline):
        """One lookup within what is left of the budget. NXDOMAIN and NoAnswer
        pass through; anything else becomes a temporary DeliveryFailed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeliveryFailed("4.4.3", f"DNS lookup of {name} timed out")
        try:
            return await self._resolver.resolve(name, rdtype, lifetime=left,
                                                search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise
        except dns.exception.Timeout:
            raise DeliveryFailed("4.4.3", f"DNS lookup of {name} {rdtype} "
                                          "timed out") from None
        except dns.exception.DNSException as exc:
            raise DeliveryFailed("4.4.3", f"DNS lookup of {name} {rdtype} "
                                          f"failed: {exc}") from None


def _negative_response(exc):
    """The response behind NXDOMAIN or NoAnswer (RFC 4035 3.1.3: a validated
    denial carries the AD bit too)."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        responses = list(exc.responses().values())
        return responses[-1] if responses else None
    return exc.response()


def _in_preference_order(records):
    """Host names by preference; RFC 5321 5.1: equal preferences in random order
    so that load spreads over them."""
    shuffled = random.sample(records, len(records))
    ordered = sorted(shuffled, key=lambda r: r.preference)
    names = []
    for record in ordered:
        name = record.exchange.to_text(omit_final_dot=True).lower()
        if name not in names:
            names.append(name)
    return names


def _address_literal(domain):
    """The address of a domain written as an address literal (RFC 5321 4.1.3:
    "[192.0.2.1]", "[IPv6:2001:db8::1]"), else None."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    text = domain[1:-1]
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise DeliveryFailed("5.1.2", f"not an address literal: {domain}") from None
