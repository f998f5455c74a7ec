"""DNS blocklists (RFC 5782): is the client's address listed in a zone?

    await look_up(dns, ip, zones) -> Result(listed, failed)

The address's octets (IPv4) or nibbles (IPv6) reversed, under each zone, asked
for an A record: an answer in 127.0.0.0/8 lists it (RFC 5782 2.1, 2.4), except
127.255.255.0/24, which some lists (Spamhaus) give for an error of the asker's
(a public resolver, too many queries), not a listing. The zones are asked at once,
from the connection on; a zone that fails is named in `failed` and lists nobody.
"""

import asyncio
import ipaddress
from typing import NamedTuple

from ..dnsquery import DnsTempError

LISTED = ipaddress.ip_network("127.0.0.0/8")
ERRORS = ipaddress.ip_network("127.255.255.0/24")


class Listing(NamedTuple):
    zone: str
    answer: str             # the A record, e.g. 127.0.0.2: the list's reason code


class Result(NamedTuple):
    listed: list            # [Listing]
    failed: list            # zones whose lookup failed (temperror)


def query_name(ip, zone):
    """RFC 5782 2.1 (IPv4) and 2.4 (IPv6, nibbles) under `zone`."""
    address = ipaddress.ip_address(ip)
    address = getattr(address, "ipv4_mapped", None) or address
    if address.version == 4:
        labels = str(address).split(".")
    else:
        labels = list(address.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + "." + zone.rstrip(".") + "."


async def look_up(dns, ip, zones):
    answers = await asyncio.gather(*(_zone(dns, ip, zone) for zone in zones))
    listed = [Listing(zone, answer) for zone, answer in zip(zones, answers)
              if isinstance(answer, str)]
    failed = [zone for zone, answer in zip(zones, answers) if answer is DnsTempError]
    return Result(listed, failed)


async def _zone(dns, ip, zone):
    """The listing answer, None when not listed, DnsTempError when it failed."""
    try:
        records = await dns.query(query_name(ip, zone), "A")
    except DnsTempError:
        return DnsTempError
    for text in records:
        answer = ipaddress.ip_address(text)
        if answer in LISTED and answer not in ERRORS:
            return text
    return None
