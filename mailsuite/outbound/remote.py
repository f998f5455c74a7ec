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
message is sent at least once. `on_release()` is called when a message leaves
the remote path, so that the runner looks at the queue again.

Failure policy: a DNS answer or a connection failure is the outcome of every
message queued for the domain (each host and address tried first); a session
that breaks defers the message in progress and the next one gets a new
connection; an exception in a worker is logged with its traceback and its
messages are deferred by the next pass, never a dead daemon.
"""

import asyncio
import collections
import concurrent.futures
import logging
from typing import NamedTuple

from ..core.config import host_port
from .client import Session, SessionBroken, Timeouts
from .dns import Resolver
from .message import Outgoing
from .record import Policy, record
from .status import DeliveryFailed, Outcome

log = logging.getLogger("deliverd")


class Job(NamedTuple):
    entry: object             # core.spool.Entry
    recipients: list          # its Recipient records for this domain
    domain: str


class Remote:
    def __init__(self, cfg, spool, on_release):
        out = cfg.outbound
        self.spool = spool
        self.on_release = on_release
        self.policy = Policy.from_config(cfg)
        self.helo_name = cfg.server.hostname
        self.port = out.smtp_port
        self.timeouts = Timeouts(out.connect_timeout, out.command_timeout,
                                 2 * out.command_timeout)
        self.resolver = Resolver([host_port(s, 53) for s in out.nameservers],
                                 out.dns_timeout, own_names=[cfg.server.hostname])
        self.per_destination = max(out.max_per_destination, 1)
        self.connections = asyncio.Semaphore(max(out.max_connections, 1))
        self.queues = {}          # domain -> deque of Job
        self.workers = {}         # domain -> set of worker tasks
        self.in_flight = {}       # qid -> set of domains with work for it
        self.recorder = concurrent.futures.ThreadPoolExecutor(1, "deliverd-record")

    def submit(self, entry, recipients):
        """Take `recipients` of `entry` (all outside our domains)."""
        by_domain = collections.defaultdict(list)
        for rcpt in recipients:
            by_domain[rcpt.address.rpartition("@")[2].lower()].append(rcpt)
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
        """Connections to `domain` while it has queued messages."""
        queue = self.queues[domain]
        while queue:
            async with self.connections:
                if queue:
                    await self._connection(domain, queue)

    async def _connection(self, domain, queue):
        job = queue.popleft()
        try:
            hosts = await self.resolver.route(domain)
            session = await self._open(hosts)
        except DeliveryFailed as exc:
            # The domain's answer is the same for every message queued for it.
            jobs = [job] + [queue.popleft() for _ in range(len(queue))]
            for each in jobs:
                await self._finish(each, {r.address: exc.outcome()
                                          for r in each.recipients})
            return
        try:
            while job is not None:
                if not await self._deliver(session, job):
                    return
                job = queue.popleft() if queue else None
        finally:
            await session.close()

    async def _open(self, hosts):
        """A session with the first host and address that answers; raises the
        last DeliveryFailed when none does."""
        failure = None
        for host in hosts:
            for address in host.addresses:
                try:
                    return await Session.open(host.name, address, self.port,
                                              self.helo_name, self.timeouts)
                except DeliveryFailed as exc:
                    log.info("outbound: %s", exc.text)
                    failure = exc
        raise failure

    async def _deliver(self, session, job):
        """Send one message on `session` and record it; False when the session
        broke (the message is deferred)."""
        loop = asyncio.get_running_loop()
        try:
            message = await loop.run_in_executor(
                None, Outgoing.prepare, job.entry, job.recipients, self.spool)
        except KeyError:
            self._release(job)           # deleted meanwhile (mailctl queue delete)
            return True
        outcomes, alive = await self._send(session, message)
        await self._finish(job, outcomes)
        return alive

    async def _send(self, session, message):
        if message.requiretls:
            # RFC 8689 4.1: a REQUIRETLS message goes only over TLS whose
            # server was authenticated (MTA-STS or DANE): not offered here yet.
            failed = Outcome("failed", "5.7.30", "REQUIRETLS needs an "
                             "authenticated TLS path, which this server cannot "
                             "establish yet", session.remote)
            return {r.address: failed for r in message.recipients}, True
        try:
            return await session.send(message), True
        except SessionBroken as exc:
            lost = Outcome("deferred", "4.4.2", f"lost connection with "
                           f"{session.remote} while sending: {exc}", session.remote)
            return {r.address: lost for r in message.recipients}, False

    async def _finish(self, job, outcomes):
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.recorder, record, self.spool,
                                       self.policy, job.entry, outcomes)
        except Exception:
            log.exception("%s: could not record the outcome; tried again later",
                          job.entry.qid)
        self._release(job)

    def _release(self, job):
        domains = self.in_flight.get(job.entry.qid)
        if domains is None:
            return
        domains.discard(job.domain)
        if not domains:
            del self.in_flight[job.entry.qid]
            self.on_release()

    async def close(self):
        """Stop every worker; a message cut off is sent again later."""
        tasks = [t for workers in self.workers.values() for t in workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.recorder.shutdown(wait=True)
