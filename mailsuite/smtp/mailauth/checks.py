"""One message's sender checks, from MAIL FROM to the end of the data, and what
smtpd does with their verdict.

SPF starts as a task when MAIL FROM is taken, so its lookups overlap the rest of
the envelope and the data. At the end of the data DKIM, ARC and the DMARC policy
lookup run together, then DMARC is evaluated, the result recorded
(mailauth.records) and logged. The lookups at MAIL and those at the end of the
data each get `[mailauth] dns_budget` seconds.

Failure policy: DNS failures are temperror results, never exceptions; a message
with several From domains raises dmarc.NoSingleFrom (smtpd refuses it); a
record is written by the records' own thread, which logs a failure.
"""

import asyncio
import logging
import random
import time
from typing import NamedTuple

from ..dnsquery import DnsQuery, DnsTempError
from . import arc, authresults, dkimverify, dmarc, spf
from .records import DmarcRecord, DmarcRecords

log = logging.getLogger("smtpd")


class Verdict(NamedTuple):
    ip: str
    mailfrom: str
    spf: spf.SpfResult              # the MAIL FROM identity
    helo: spf.SpfResult
    dkim: list                      # [DkimResult]
    arc: arc.ArcResult
    dmarc: dmarc.DmarcResult


class MailAuth:
    def __init__(self, cfg):
        self.settings = cfg.mailauth
        self.authserv_id = cfg.server.hostname
        self.dns = DnsQuery.from_config(cfg)
        self.records = DmarcRecords(cfg.state_dir)

    def start(self, ip, helo, sender):
        return Check(self, ip, helo or "", sender)

    def field(self, verdict):
        return authresults.field(self.authserv_id, verdict)

    def strip_ours(self, head):
        return authresults.strip_ours(head, self.authserv_id)


class Check:
    def __init__(self, auth, ip, helo, sender):
        self.auth = auth
        self.ip = ip
        self.sender = sender
        budget = auth.dns.budget(auth.settings.dns_budget)
        self.spf = asyncio.ensure_future(spf.check(budget, ip, helo, sender))

    def cancel(self):
        self.spf.cancel()

    async def finish(self, incoming):
        """The Verdict on the message `incoming` (smtp.incoming.Incoming)."""
        domain = dmarc.from_domain(incoming.header_section)
        budget = self.auth.dns.budget(self.auth.settings.dns_budget)
        message = await self._message(incoming)
        signed = await asyncio.gather(
            self._dkim(budget, message, incoming.header_section),
            self._arc(budget, message), self._policy(budget, domain))
        dkims, arc_result, policy = signed
        mailfrom, helo = await self.spf
        result = policy if isinstance(policy, dmarc.DmarcResult) else \
            dmarc.evaluate(domain, policy, mailfrom, dkims, random.randrange(100))
        verdict = Verdict(self.ip, self.sender, mailfrom, helo, dkims, arc_result,
                          result)
        self._record(incoming.qid, verdict, policy)
        return verdict

    async def _message(self, incoming):
        """The whole message, or None when it is over verify_max_size."""
        draft = incoming.draft
        if draft.size > self.auth.settings.verify_max_size:
            return None
        if not draft.on_disk:
            return draft.value()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, (draft.directory / draft.qid).read_bytes)

    async def _dkim(self, budget, message, header_section):
        if message is None:
            if b"dkim-signature" not in header_section.lower():
                return []
            return [dkimverify.DkimResult("policy", reason="message too large to "
                                                           "verify")]
        return await dkimverify.verify(budget, message)

    async def _arc(self, budget, message):
        if message is None:
            return arc.ArcResult("none", "message too large to verify")
        return await arc.validate(budget, message)

    async def _policy(self, budget, domain):
        """The Policy (or None), or the DmarcResult that ends the evaluation."""
        if domain is None:
            return dmarc.DmarcResult("none", "", reason="no From field")
        try:
            return await dmarc.find_policy(budget, domain)
        except DnsTempError as exc:
            return dmarc.DmarcResult("temperror", domain, reason=str(exc))
        except dmarc.BadPolicy as exc:
            return dmarc.DmarcResult("permerror", domain, reason=str(exc))

    def _record(self, qid, verdict, policy):
        result = verdict.dmarc
        log.info("%s: spf=%s dkim=%s arc=%s dmarc=%s header.from=%s "
                 "disposition=%s", qid, verdict.spf.result,
                 ",".join(d.result for d in verdict.dkim) or "none",
                 verdict.arc.result, result.result, result.domain[:253],
                 result.disposition)
        record = DmarcRecord(
            qid, int(time.time()), verdict.ip, result.domain, verdict.spf.domain,
            verdict.spf.result, [[d.domain, d.selector, d.result] for d in verdict.dkim],
            result.result, getattr(policy, "domain", ""), result.policy,
            result.disposition)
        if result.domain:
            self.auth.records.submit(record)
