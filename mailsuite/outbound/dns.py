"""Where mail for a domain goes: its mail hosts in the order to try them, each
with its addresses (RFC 5321 5.1), looked up with dnspython's asynchronous
resolver in one time budget per destination.

    Resolver(nameservers, timeout)          # [(address, port)]; [] = the system's
    await resolver.route(domain) -> [Host(name, addresses)]

MX records in preference order, equal preferences in random order; no MX
record: the domain itself (the implicit MX); a null MX (RFC 7505): no host at
all. Each host's IPv6 addresses are tried before its IPv4 ones.

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
import dns.name
import dns.resolver

from .status import DeliveryFailed


class Host(NamedTuple):
    name: str
    addresses: list


class Resolver:
    def __init__(self, nameservers=(), timeout=30.0, own_names=()):
        self.timeout = timeout
        self.own_names = {name.lower().rstrip(".") for name in own_names}
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [host for host, _ in nameservers]
            self._resolver.nameserver_ports = dict(nameservers)

    async def route(self, domain):
        """The hosts to try for `domain`, in order; raises DeliveryFailed."""
        deadline = time.monotonic() + self.timeout
        literal = _address_literal(domain)
        if literal is not None:
            return [Host(domain, [literal])]
        names = await self._mail_hosts(domain, deadline)
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
        hosts = [Host(name, addresses) for name, addresses in zip(names, found)
                 if addresses]
        if hosts:
            return hosts
        if any(addresses is None for addresses in found):
            raise DeliveryFailed("4.4.3", f"{domain}: DNS lookup of its mail "
                                          "hosts' addresses failed")
        raise DeliveryFailed("5.4.4", f"{domain}: no address for its mail hosts "
                                      f"({', '.join(names)})")

    async def _mail_hosts(self, domain, deadline):
        """The MX host names in the order to try (or the implicit MX)."""
        try:
            answer = await self._query(domain, "MX", deadline)
        except dns.resolver.NXDOMAIN:
            raise DeliveryFailed("5.1.2", f"{domain}: no such domain") from None
        except dns.resolver.NoAnswer:
            # RFC 5321 5.1: no MX record: the domain is its own mail host.
            return [domain.lower().rstrip(".")]
        records = list(answer)
        # RFC 7505 3: a lone MX of preference 0 whose exchange is "." says the
        # domain accepts no mail; 4.1: the sender bounces at once (5.1.10).
        real = [r for r in records if r.exchange != dns.name.root]
        if not real:
            raise DeliveryFailed("5.1.10", f"{domain} accepts no mail (null MX, "
                                           "RFC 7505)")
        return _in_preference_order(real)

    async def _addresses(self, name, deadline):
        """IPv6 then IPv4 addresses of `name`; None if a lookup failed."""
        results = await asyncio.gather(self._records(name, "AAAA", deadline),
                                       self._records(name, "A", deadline))
        if all(r is None for r in results):
            return None
        return [a for r in results if r for a in r]

    async def _records(self, name, rdtype, deadline):
        try:
            answer = await self._query(name, rdtype, deadline)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except DeliveryFailed:
            return None
        return [rdata.address for rdata in answer]

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
