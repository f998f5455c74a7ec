"""smtpd's defences: what the MX checks of a client before it spends work on its
mail. One `Defences` per daemon (what its sessions share), one `Client` per
session, driven by smtpd.MXSession's hooks:

    client = defences.client(ip)
    await client.connect(stream)     # before the greeting: lookups started, the
                                     # gate (rate, early talker); ProtocolError
    await client.hello(name)         # iprev and the HELO name, logged
    await client.greylist(sender, recipient)   # at RCPT: 451 4.7.1 to wait
    client.received_name             # the confirmed name, for the Received field
    client.close()                   # the session is over: lookups cancelled

A client from `smtpd.exempt_networks` (loopback by default) skips them all.
Failure policy: a DNS failure is recorded as temperror; only the gate refuses.
"""

import asyncio
import logging

from ...core.accept import address_group
from ...core.config import host_port
from ...core.login import shown
from ..dnsquery import DnsQuery
from ..errors import ProtocolError
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

    @property
    def received_name(self):
        return self.iprev.name if self.iprev else None

    async def connect(self, stream):
        if self.exempt:
            return
        # Started now so that the answers come during the greeting pause.
        self._iprev = self._start(self._bounded(iprev(self.defences.dns, self.ip)))
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
