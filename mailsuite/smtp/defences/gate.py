"""The MX's door: what a client meets before the greeting.

    gate = Gate(cfg.smtpd)
    gate.exempt(ip) -> bool            # configured networks skip the defences
    await gate.admit(stream, group)    # raises ProtocolError (421 or 554, close)

Two checks, cheapest first. The connection rate: connections per address group
(an IPv4 address, an IPv6 /64: core.accept.address_group) over the last minute,
a sliding window (smtp.ratelimit); one too many is answered 421 4.7.0 (RFC 5321
3.8) and the client retries later. The early talker: a client that sends before
the greeting (RFC 5321 4.3.1: the client waits for it), during a pause of
`greet_pause` seconds, is answered 554 5.5.1 and dropped: spam software that
does not wait. A group that waited is remembered for a day (PASSED_TTL) and
greeted at once from then on, so a real server pays the pause once.

State lives in the process and is bounded; a restart costs at most a pause.
"""

import ipaddress
import time
from collections import OrderedDict

from ..errors import ProtocolError
from ..ratelimit import RateLimit

RATE_WINDOW = 60        # seconds: connection_rate counts per minute, as anvil(8)
PASSED_TTL = 86400      # seconds a group that waited for the greeting is trusted
MAX_PASSED = 100000     # groups remembered; the oldest are forgotten first


class Gate:
    def __init__(self, settings, clock=time.monotonic):
        self.networks = [ipaddress.ip_network(n) for n in settings.exempt_networks]
        self.pause = settings.greet_pause
        self.rate = RateLimit(settings.connection_rate, clock, window=RATE_WINDOW)
        self.clock = clock
        self.passed = OrderedDict()     # group -> when it waited for the greeting

    def exempt(self, ip):
        address = ipaddress.ip_address(ip)
        address = getattr(address, "ipv4_mapped", None) or address
        return any(address in network for network in self.networks)

    async def admit(self, stream, group):
        if not self.rate.allows(group):
            raise ProtocolError(421, "4.7.0", "too many connections from your "
                                "address, try again later", close=True)
        self.rate.count(group)
        if self.pause and not self._passed(group):
            await self._wait_for_greeting(stream)
            self._remember(group)

    async def _wait_for_greeting(self, stream):
        try:
            await stream.readexactly(1, timeout=self.pause)
        except TimeoutError:
            return              # silent, as a client must be before the greeting
        # RFC 5321 4.3.1: the client waits for the greeting before it speaks.
        raise ProtocolError(554, "5.5.1", "talked before the greeting", close=True)

    def _passed(self, group):
        since = self.passed.get(group)
        return since is not None and self.clock() - since < PASSED_TTL

    def _remember(self, group):
        self.passed[group] = self.clock()
        self.passed.move_to_end(group)
        while len(self.passed) > MAX_PASSED:
            self.passed.popitem(last=False)
