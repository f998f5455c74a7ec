"""What happens after a remote attempt: the outcome of each recipient made
durable in the spool, expiry, the notices to the sender, and the log lines.

    policy = Policy.from_config(cfg)
    record(spool, policy, entry, outcomes, now=None) -> {address: Outcome}
    record_many(spool, policy, [(entry, outcomes)], now=None)   # one commit
    await GroupRecorder(spool, policy).record(entry, outcomes)  # group commit
    notice_failures(spool, hostname, entry, {address: error}) -> qid | None
    notice_deliveries(spool, hostname, entry, [address]) -> qid | None
    relayed_notice(rcpt, outcome) -> bool     # a success notice of ours is due

A deferred recipient whose message has been queued longer than `retry_max`
fails (4.4.7, RFC 3463: delivery time expired). Failed recipients get a
failure notice, once, in the same call that makes them final; deferred ones a
delay notice once the message is `delay_warning` old (the message's info
remembers it was sent). The notice is queued before the outcome is recorded:
a crash between the two can repeat a notice, never lose one. The functions
block (disk): GroupRecorder runs them in a thread of their own, and the
messages answered while one commit is under way share the next.

Failure policy: a spool error raises (SpoolError); the caller logs it and the
recipients stay as they were, to be tried again at the next pass.
"""

import asyncio
import concurrent.futures
import logging
import random
import time
from typing import NamedTuple

from ..core import metrics
from . import dsn
from .status import Outcome, parse_record

log = logging.getLogger("deliverd")

JITTER = 0.2              # a retry comes up to 20% sooner or later than its backoff


class Policy(NamedTuple):
    hostname: str
    retry_max: int            # seconds a message may wait in all
    delay_warning: int        # seconds before a delay notice; 0: none
    backoff_min: int
    backoff_max: int

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.server.hostname, cfg.deliverd.retry_max,
                   cfg.outbound.delay_warning, cfg.outbound.backoff_min,
                   cfg.outbound.backoff_max)

    def backoff(self, attempts):
        """Exponential, capped, with jitter so that messages deferred together
        do not all come back together."""
        base = min(self.backoff_min * 2 ** max(attempts - 1, 0), self.backoff_max)
        return base * random.uniform(1 - JITTER, 1 + JITTER)


def record(spool, policy, entry, outcomes, now=None):
    """Record `outcomes` ({address: Outcome}) of one message; returns them as
    recorded (expired ones turned into failures)."""
    return record_many(spool, policy, [(entry, outcomes)], now)[0]


def record_many(spool, policy, items, now=None):
    """Record the outcomes of several messages, [(entry, {address: Outcome})],
    in one spool commit (after their notices are queued); returns the outcomes
    as recorded, in order."""
    now = time.time() if now is None else now
    results, info, done = {}, {}, []
    for entry, outcomes in items:
        outcomes = {a: _expired(entry, o, policy, now) for a, o in outcomes.items()}
        _notices(spool, policy, entry, outcomes, now, info)
        results.setdefault(entry.qid, {}).update(
            {a: (o.state, o.record()) for a, o in outcomes.items()})
        done.append(outcomes)
    removed = set(spool.update(results, now=now, delay=policy.backoff, info=info))
    for (entry, _), outcomes in zip(items, done):
        _log(entry, outcomes, now)
        if entry.qid in removed:
            removed.discard(entry.qid)
            log.info("%s: removed", entry.qid)
    return done


def _notices(spool, policy, entry, outcomes, now, info):
    """Queue the failure, success and delay notices that `outcomes` call for;
    a delay notice is remembered in `info`."""
    rcpts = {r.address: r for r in entry.recipients}
    # RFC 3461 5.2.2, 6.2: NOTIFY=SUCCESS to a peer without DSN is answered
    # here, Action: relayed; a peer with DSN got the NOTIFY and answers it.
    relayed = [_report(rcpts[a], o) for a, o in outcomes.items()
               if relayed_notice(rcpts[a], o)]
    qid = dsn.queue_notice(spool, "relayed", entry, relayed, policy.hostname)
    if qid:
        log.info("%s: sender delivery status notification: %s", entry.qid, qid)
    failed = [_report(rcpts[a], o) for a, o in outcomes.items()
              if o.state == "failed" and dsn.wanted(rcpts[a], "failed")]
    qid = dsn.queue_notice(spool, "failed", entry, failed, policy.hostname)
    if qid:
        log.info("%s: sender non-delivery notification: %s", entry.qid, qid)
    if _delay_notice_due(entry, outcomes, policy, now) and entry.qid not in info:
        late = [_report(rcpts[a], o) for a, o in outcomes.items()
                if o.state == "deferred" and dsn.wanted(rcpts[a], "delayed")]
        qid = dsn.queue_notice(spool, "delayed", entry, late, policy.hostname,
                               retry_until=entry.arrival + policy.retry_max)
        info[entry.qid] = {"delay_notice": now}
        if qid:
            log.info("%s: delay notice to <%s>: %s", entry.qid, entry.sender, qid)


class GroupRecorder:
    """record_many() for the event loop: the messages answered while a commit
    is under way share the next one (group commit), in one worker thread."""

    def __init__(self, spool, policy):
        self.spool, self.policy = spool, policy
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "deliverd-record")
        self.waiting = []           # [(entry, outcomes, future)]
        self.busy = False

    async def record(self, entry, outcomes):
        """Returns once the outcomes are committed; raises what the commit raised."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((entry, outcomes, future))
        if not self.busy:
            self._commit()
        return await future

    def _commit(self):
        batch, self.waiting = self.waiting, []
        self.busy = True
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.executor, record_many, self.spool,
                                    self.policy, [(e, o) for e, o, _ in batch])
        work.add_done_callback(lambda done: self._settle(batch, done))

    def _settle(self, batch, done):
        self.busy = False
        for index, (_, _, future) in enumerate(batch):
            if future.cancelled():
                continue
            if done.exception() is not None:
                future.set_exception(done.exception())
            else:
                future.set_result(done.result()[index])
        if self.waiting:
            self._commit()

    def close(self):
        self.executor.shutdown(wait=True)


def notice_failures(spool, hostname, entry, failed):
    """Queue a failure notice for local recipients that failed ({address:
    spool error field}, such as "5.1.1 no such user"); returns its qid or None."""
    rcpts = {r.address: r for r in entry.recipients}
    reports = []
    for address, error in failed.items():
        status, text = parse_record(error)
        if dsn.wanted(rcpts[address], "failed"):
            reports.append(dsn.Report(address, status or "5.0.0", text, None,
                                      getattr(rcpts[address], "orcpt", None)))
    qid = dsn.queue_notice(spool, "failed", entry, reports, hostname)
    if qid:
        log.info("%s: sender non-delivery notification: %s", entry.qid, qid)
    return qid


def relayed_notice(rcpt, outcome):
    """Whether `outcome` calls for a success notice of ours (Action: relayed)."""
    return outcome.state == "done" and not outcome.passed_on \
        and dsn.wanted(rcpt, "relayed")


def notice_deliveries(spool, hostname, entry, delivered):
    """Queue a success notice (RFC 3464 Action: delivered) for the local
    recipients delivered to a mailbox that asked for one (NOTIFY=SUCCESS,
    RFC 3461 4.1); returns its qid or None."""
    rcpts = {r.address: r for r in entry.recipients}
    reports = [dsn.Report(address, "2.0.0", "", None,
                          getattr(rcpts[address], "orcpt", None))
               for address in delivered if dsn.wanted(rcpts[address], "delivered")]
    qid = dsn.queue_notice(spool, "delivered", entry, reports, hostname)
    if qid:
        log.info("%s: sender delivery status notification: %s", entry.qid, qid)
    return qid


def _expired(entry, outcome, policy, now):
    if outcome.state != "deferred" or now - entry.arrival < policy.retry_max:
        return outcome
    # RFC 8689 4.2.1: a REQUIRETLS message that found no path for it is
    # returned as such.
    if outcome.status == "4.7.30":
        return Outcome("failed", "5.7.30", "REQUIRETLS support required: no path "
                       f"for it in {_days(now - entry.arrival)}; last error: "
                       f"{outcome.text}", outcome.remote)
    return Outcome("failed", "4.4.7", "delivery time expired after "
                   f"{_days(now - entry.arrival)}; last error: {outcome.text}",
                   outcome.remote)


def _delay_notice_due(entry, outcomes, policy, now):
    return (policy.delay_warning > 0 and entry.sender
            and "delay_notice" not in entry.info
            and now - entry.arrival >= policy.delay_warning
            and any(o.state == "deferred" for o in outcomes.values()))


def _report(rcpt, outcome):
    return dsn.Report(rcpt.address, outcome.status, outcome.text, outcome.remote,
                      getattr(rcpt, "orcpt", None))


def _log(entry, outcomes, now):
    """One line per recipient, as Postfix writes them."""
    delay = now - entry.arrival
    for address, o in outcomes.items():
        relay = o.remote or "none"
        status = {"done": "sent", "deferred": "deferred", "failed": "bounced"}[o.state]
        if o.state == "done":
            metrics.delivered("remote", delay)
        log.info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)",
                 entry.qid, address, relay, delay, o.status, status, o.text)


def _days(seconds):
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds:.0f} s"
