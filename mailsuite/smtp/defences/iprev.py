"""Who the client says it is, checked against DNS and recorded, never refused for:
the reverse DNS of its address, forward-confirmed (iprev, RFC 8601 2.7.3), and the
name it gave in HELO/EHLO.

    await iprev(dns, ip) -> Iprev(result, name)   # result: pass, fail, temperror
    await helo_verdict(dns, helo, ip, iprev, own_names) -> str  # one phrase

iprev passes when a name of the address's PTR records has the address among its
A/AAAA records (RFC 8601 2.7.3, RFC 1912 2.1); that name is what the Received
field shows beside the address. A DNS failure is temperror, never an error of
the session.
"""

import asyncio
import ipaddress
import re
from typing import NamedTuple

from dns.reversename import from_address as reverse_name

from ..dnsquery import DnsTempError

MAX_NAMES = 5           # PTR names checked, as Postfix's and most verifiers' cap
# RFC 1035 2.3.1, relaxed by RFC 1123 2.1 (labels may start with a digit).
_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                       r"[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class Iprev(NamedTuple):
    result: str             # "pass", "fail" or "temperror"
    name: str | None        # the confirmed name when it passed

    def authres(self, ip):
        """The Authentication-Results resinfo (RFC 8601 2.7.3: ptype policy,
        property iprev, the client's address)."""
        return f"iprev={self.result} policy.iprev={ip}"


async def iprev(dns, ip):
    try:
        names = [name.rstrip(".").lower() for name in
                 await dns.query(reverse_name(ip).to_text(), "PTR")]
        # A name that is not a host name (PTR data may be any octets) is not
        # looked up, nor ever shown in a header.
        for name in [n for n in names if _HOSTNAME.fullmatch(n)][:MAX_NAMES]:
            if ip_of(ip) in await addresses(dns, name):
                return Iprev("pass", name)
    except DnsTempError:
        return Iprev("temperror", None)
    return Iprev("fail", None)


async def addresses(dns, name):
    """The addresses `name` has (A and AAAA), as ip_address objects."""
    found = await asyncio.gather(dns.query(name, "A"), dns.query(name, "AAAA"))
    return {ipaddress.ip_address(text) for texts in found for text in texts}


def ip_of(text):
    ip = ipaddress.ip_address(text)
    return ip.ipv4_mapped or ip if ip.version == 6 else ip


async def helo_verdict(dns, helo, ip, rev, own_names):
    """What the HELO/EHLO name says of the client, in a few words for the log."""
    client = ip_of(ip)
    if helo.startswith("[") and helo.endswith("]"):
        literal = helo[1:-1].removeprefix("IPv6:").removeprefix("ipv6:")
        try:
            same = ip_of(literal) == client
        except ValueError:
            return "invalid address literal"
        return "address literal matches" if same else "address literal mismatch"
    name = helo.rstrip(".").lower()
    if name in own_names:
        return "claims to be this server"
    if not _HOSTNAME.fullmatch(name):
        return "not a fully qualified host name"
    if rev.name == name:
        return "matches the reverse name"
    try:
        found = await addresses(dns, name)
    except DnsTempError:
        return "lookup failed (temperror)"
    if client in found:
        return "resolves to the client"
    return "does not resolve to the client" if found else "does not resolve"
