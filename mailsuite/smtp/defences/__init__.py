"""smtpd's defences: what the MX checks of a client before it spends work on its
mail. One `Defences` per daemon (what its sessions share), one `Client` per
session, driven by smtpd.MXSession's hooks:

    client = defences.client(ip)
    await client.connect(stream)     # before the greeting: lookups started, the
                                     # gate (rate, early talker); ProtocolError
    await client.hello(name)         # iprev and the HELO name, logged
    await client.blocklisted(recipient)        # at RCPT: 554 5.7.1 if listed
    await client.greylist(sender, recipient)   # at RCPT: 451 4.7.1 to wait
    client.received_name             # the confirmed name, for the Received field
    client.close()                   # the session is over: lookups cancelled

A client from `smtpd.exempt_networks` (loopback by default) skips them all.
Failure policy: a DNS failure is recorded as temperror and refuses nobody.
"""

import asyncio
import logging

from ...core.accept import address_group
from ...core.config import host_port
from ...core.login import shown
from ..dnsquery import DnsQuery
from ..errors import ProtocolError
from . import dnsbl
from .gate import Gate
from .greylist import Greylist
from .iprev import Iprev, helo_verdict, iprev

log = logging.getLogger("smtpd")


class Defences:
    def __init__(self, cfg, accounts):
        self.cfg = cfg
        self.accounts = accounts
        self.gate = Gate(cfg.smtpd)
        self.dns = DnsQuery([host_port(s, 53) for s in cfg.outbound.nameservers],
                            cfg.smtpd.dns_timeout)
        self.greylist = (Greylist(cfg.state_dir, cfg.greylist)
                         if cfg.greylist.enabled else None)

    def client(self, ip):
        return Client(self, ip)

    def own_names(self):
        """Names only this server may give in HELO: its own and its domains."""
        return {self.cfg.server.hostname.lower(), *self.accounts.domains()}


class Client:
    def __init__(self, defences, ip):
        self.defences = defences
        self.ip = ip
        self.exempt = defences.gate.exempt(ip)
        self.lookups = []           # the tasks started at connect
        self.iprev = None           # an Iprev once known
        self._iprev = None
        self._dnsbl = None          # the task that answers a dnsbl.Result

    @property
    def received_name(self):
        return self.iprev.name if self.iprev else None

    async def connect(self, stream):
        if self.exempt:
            return
        # Started now so that the answers come during the greeting pause.
        self._iprev = self._start(self._bounded(iprev(self.defences.dns, self.ip)))
        zones = list(self.defences.cfg.dnsbl.zones)
        if zones:
            self._dnsbl = self._start(self._blocklists(zones))
        await self.defences.gate.admit(stream, address_group((self.ip, 0)))

    async def hello(self, name):
        if self.exempt:
            return
        self.iprev = await self._iprev
        verdict = await self._bounded(helo_verdict(
            self.defences.dns, name, self.ip, self.iprev,
            self.defences.own_names()), "lookup timed out (temperror)")
        log.info("[%s]: iprev=%s%s, helo=%s: %s", self.ip, self.iprev.result,
                 f" ({self.iprev.name})" if self.iprev.name else "", shown(name),
                 verdict)

    async def _blocklists(self, zones):
        result = await self._bounded(dnsbl.look_up(self.defences.dns, self.ip, zones),
                                     dnsbl.Result([], zones))
        for listing in result.listed:
            log.info("[%s]: listed in %s (%s)", self.ip, listing.zone, listing.answer)
        if result.failed:
            log.info("[%s]: DNSBL lookup failed (temperror): %s", self.ip,
                     ", ".join(result.failed))
        return result

    async def blocklisted(self, recipient):
        if self._dnsbl is None or self.defences.cfg.dnsbl.action != "reject":
            return
        listed = (await self._dnsbl).listed
        # The postmaster hears from everyone, so that a listed sender can ask
        # to be let through (RFC 5321 4.5.1).
        if listed and recipient.local.lower() != "postmaster":
            # RFC 5782 2.1 leaves the reply to the site; Postfix's 554 5.7.1.
            raise ProtocolError(554, "5.7.1", f"client [{self.ip}] blocked using "
                                f"{listed[0].zone}")

    async def greylist(self, sender, recipient):
        greylist = self.defences.greylist
        if self.exempt or greylist is None:
            return
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, greylist.wait, self.ip, str(sender),
                                          str(recipient))
        if left:
            log.info("[%s]: greylisted from=<%s> to=<%s>, %d s to wait", self.ip,
                     shown(str(sender)), shown(str(recipient)), left)
            # RFC 6647 2.1: a temporary refusal at RCPT (RFC 3463 4.7.1: not
            # authorized, for now). Not the client's mistake: not counted.
            raise ProtocolError(451, "4.7.1", f"<{recipient}>: greylisted, try "
                                f"again in {left} seconds", counted=False)

    def close(self):
        for task in self.lookups:
            task.cancel()

    def _start(self, coro):
        task = asyncio.create_task(coro)
        self.lookups.append(task)
        return task

    async def _bounded(self, coro, late=Iprev("temperror", None)):
        """`coro`'s answer, or `late` once the whole check has taken twice the
        DNS timeout (a check makes several lookups, some in parallel)."""
        try:
            return await asyncio.wait_for(coro, 2 * self.defences.dns.timeout)
        except TimeoutError:
            return late
