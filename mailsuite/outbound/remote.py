"""deliverd's remote path: the recipients outside our domains, taken to their
mail hosts over SMTP, asynchronously, beside the local path's passes.

    remote = Remote(cfg, spool, on_release)
    remote.submit(entry, recipients)    # from the event loop; grouped by domain
    remote.in_flight                    # {qid: domains}: skip these in passes
    await remote.close()

Recipients are grouped by destination domain; each domain has its own queue,
worked by up to `max_per_destination` connections, and `max_connections`
connections run at once over all domains, so one slow host holds up only its
own domain's mail (and never the local path, which runs in its own thread).
One connection carries the domain's queued messages one after the other. The
outcome of each message is recorded in the spool (outbound.record) as soon as
the peer has answered it and before the next is sent, so a message the peer
acknowledged is never sent again, even after a crash; until that record, a
message is sent at least once. `on_release()` is called when a message that
still needs the runner (deferred, failed, not recorded) leaves the remote path,
so that the runner looks at the queue again.

Failure policy: a DNS answer or a connection failure is the outcome of every
message queued for the domain (each host and address tried first), and
`breaker_failures` of them in a row open the domain's circuit breaker
(outbound.breaker): its mail waits without attempts for `breaker_cooldown`; a session
that breaks defers the message in progress and the next one gets a new
connection; an exception in a worker is logged with its traceback and its
messages are deferred by the next pass, never a dead daemon.
"""

import asyncio
import collections
import logging
from typing import NamedTuple

from ..core.config import host_port
from .breaker import Breakers
from .client import Session, SessionBroken, Timeouts
from .dns import Resolver
from .message import Outgoing, tls_optional
from .record import GroupRecorder, Policy, relayed_notice
from .routing import Routing
from .status import DeliveryFailed, Outcome
from .tlspolicy import TlsPolicies

log = logging.getLogger("deliverd")


class Job(NamedTuple):
    entry: object             # core.spool.Entry
    recipients: list          # its Recipient records for this domain
    domain: str


class _Taker:
    """Takes jobs from a domain's queue for one worker, and keeps those not
    finished yet in the worker's `taken` (by id: an Entry is not hashable)."""

    def __init__(self, queue, taken):
        self.queue, self.taken = queue, taken

    def next(self):
        job = self.queue.popleft()
        self.taken[id(job)] = job
        return job

    def done(self, job):
        self.taken.pop(id(job), None)


class Remote:
    def __init__(self, cfg, spool, on_release):
        out = cfg.outbound
        self.spool = spool
        self.on_release = on_release
        self.policy = Policy.from_config(cfg)
        self.helo_name = cfg.server.hostname
        self.timeouts = Timeouts(out.connect_timeout, out.command_timeout,
                                 2 * out.command_timeout)
        # The AD bit is believed only from the configured nameservers, never
        # from whatever /etc/resolv.conf names (RFC 7672 2.1).
        self.resolver = Resolver([host_port(s, 53) for s in out.nameservers],
                                 out.dns_timeout, own_names=[cfg.server.hostname],
                                 trust_ad=out.dane and bool(out.nameservers))
        self.routing = Routing(out, self.resolver)
        self.tls = TlsPolicies(cfg, self.resolver)
        self.breakers = Breakers(out.breaker_failures, out.breaker_cooldown)
        self.per_destination = max(out.max_per_destination, 1)
        self.connections = asyncio.Semaphore(max(out.max_connections, 1))
        self.queues = {}          # domain -> deque of Job
        self.workers = {}         # domain -> set of worker tasks
        self.in_flight = {}       # qid -> set of domains with work for it
        self.needs_runner = set()  # qids in flight that need a pass once released
        self.recorder = GroupRecorder(spool, self.policy)

    def submit(self, entry, recipients):
        """Take `recipients` of `entry` (all outside our domains)."""
        by_domain = collections.defaultdict(list)
        for rcpt in recipients:
            by_domain[self.routing.destination(rcpt.address)].append(rcpt)
        self.in_flight[entry.qid] = set(by_domain)
        for domain, rcpts in by_domain.items():
            self.queues.setdefault(domain, collections.deque()).append(
                Job(entry, rcpts, domain))
            self._start_worker(domain)

    def _start_worker(self, domain):
        workers = self.workers.setdefault(domain, set())
        if len(workers) < min(self.per_destination, len(self.queues[domain])):
            task = asyncio.ensure_future(self._work(domain))
            workers.add(task)
            task.add_done_callback(lambda t: self._worker_done(domain, t))

    def _worker_done(self, domain, task):
        self.workers[domain].discard(task)
        if not self.workers[domain]:
            del self.workers[domain]
            for job in self.queues.pop(domain, ()):
                self._release(job)       # left by a failed worker: the next pass
        if not task.cancelled() and task.exception() is not None:
            log.error("outbound worker for %s failed", domain,
                      exc_info=task.exception())

    async def _work(self, domain):
        """Connections to `domain` while it has queued messages. The messages a
        worker has taken and not finished when it stops (a bug, a shutdown)
        are let go, for the next pass."""
        queue = self.queues[domain]
        taken = {}                # id(job) -> job, taken and not finished
        try:
            while queue:
                async with self.connections:
                    if queue:
                        await self._connection(queue, _Taker(queue, taken))
        finally:
            for job in taken.values():
                self._release(job)

    async def _connection(self, queue, taker):
        job = taker.next()
        try:
            self.breakers.check(job.domain)
            session = await self._open(job.domain, _requiretls(job))
        except DeliveryFailed as exc:
            # The domain's answer is the same for every message queued for it;
            # recorded together (they share commits).
            jobs = [job] + [taker.next() for _ in range(len(queue))]
            if exc.status.startswith("4.7.") and self.routing.is_mx(job.domain):
                jobs = await self._without_policy(job.domain, jobs, taker)
            await asyncio.gather(*(self._finish(each, {r.address: exc.outcome()
                                                       for r in each.recipients},
                                                taker)
                                   for each in jobs))
            return
        try:
            while job is not None:
                if not await self._deliver(session, job, taker):
                    return
                job = taker.next() if queue else None
        finally:
            await session.close()

    async def _without_policy(self, domain, jobs, taker):
        """RFC 8689 5: the messages among `jobs` whose header says
        "TLS-Required: No" go without the destination's MTA-STS or DANE
        policy, which failed (opportunistic TLS still); returns the jobs
        left, which share the policy's failure."""
        loop = asyncio.get_running_loop()
        optional, left = [], []
        for job in jobs:
            # RFC 8689 5: REQUIRETLS wins over the header.
            wants = not _requiretls(job) and await loop.run_in_executor(
                None, tls_optional, self.spool, job.entry.qid)
            (optional if wants else left).append(job)
        if not optional:
            return jobs
        try:
            session = await self._open(domain, policies=False)
        except DeliveryFailed:
            return jobs
        try:
            while optional:
                job = optional.pop(0)
                log.info("%s: TLS-Required: No: sent without the TLS policy of %s",
                         job.entry.qid, domain)
                if not await self._deliver(session, job, taker):
                    break
        finally:
            await session.close()
        return left + optional

    async def _open(self, destination, requiretls=False, policies=True):
        """A session with the first host and address of `destination` that
        answers, authenticated where it can be when `requiretls`, under the
        hosts' TLS policies unless not `policies`; raises the last
        DeliveryFailed when none does."""
        failure, reached = None, False
        targets = await self._targets(destination)
        mx = self.routing.is_mx(destination) and policies
        for (host, port, login), tls in await self.tls.plan(
                destination, targets, mx, requiretls):
            for address in host.addresses:
                try:
                    session = await Session.open(host.name, address, port,
                                                 self.helo_name, self.timeouts,
                                                 login=login, policy=tls)
                except DeliveryFailed as exc:
                    log.info("outbound: %s", exc.text)
                    failure = exc
                    # 4.4.x: no answer (RFC 3463 3.5); anything else came from
                    # a host that answered.
                    reached = reached or not exc.status.startswith("4.4.")
                    continue
                self.breakers.reached(destination)
                return session
        if reached:
            self.breakers.reached(destination)
        else:
            self.breakers.failed(destination)
        raise failure

    async def _targets(self, destination):
        try:
            return await self.routing.hosts(destination)
        except DeliveryFailed as exc:
            if not exc.permanent:
                self.breakers.failed(destination)
            raise

    async def _deliver(self, session, job, taker):
        """Send one message on `session` and record it; False when the session
        broke (the message is deferred)."""
        loop = asyncio.get_running_loop()
        try:
            message = await loop.run_in_executor(
                None, Outgoing.prepare, job.entry, job.recipients, self.spool)
        except KeyError:
            taker.done(job)
            self._release(job, wake=False)   # deleted meanwhile (mailctl queue delete)
            return True
        outcomes, alive = await self._send(session, message)
        await self._finish(job, outcomes, taker)
        return alive

    async def _send(self, session, message):
        try:
            return await session.send(message), True
        except SessionBroken as exc:
            lost = Outcome("deferred", "4.4.2", f"lost connection with "
                           f"{session.remote} while sending: {exc}", session.remote)
            return {r.address: lost for r in message.recipients}, False

    async def _finish(self, job, outcomes, taker=None):
        if taker is not None:
            taker.done(job)
        try:
            outcomes = await self.recorder.record(job.entry, outcomes)
        except Exception:
            log.exception("%s: could not record the outcome; tried again later",
                          job.entry.qid)
            outcomes = {}
        # A message sent to all is gone from the queue: the runner has nothing
        # to do for it, unless a success notice was queued. Anything else
        # (deferred, failed with a notice queued, not recorded) needs a pass,
        # or a new schedule.
        rcpts = {r.address: r for r in job.recipients}
        self._release(job, wake=not outcomes or any(
            o.state != "done" or relayed_notice(rcpts[a], o)
            for a, o in outcomes.items()))

    def _release(self, job, wake=True):
        domains = self.in_flight.get(job.entry.qid)
        if domains is None:
            return
        domains.discard(job.domain)
        if wake:
            self.needs_runner.add(job.entry.qid)
        if not domains:
            del self.in_flight[job.entry.qid]
            if job.entry.qid in self.needs_runner:
                self.needs_runner.discard(job.entry.qid)
                self.on_release()

    async def close(self):
        """Stop every worker; a message cut off is sent again later."""
        tasks = [t for workers in self.workers.values() for t in workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.recorder.close()


def _requiretls(job):
    return bool(getattr(job.entry, "requiretls", False))
