"""What happens after a remote attempt: the outcome of each recipient made
durable in the spool, expiry, the notices to the sender, and the log lines.

    policy = Policy.from_config(cfg)
    record(spool, policy, entry, outcomes, now=None) -> [Outcome]   # blocking

A deferred recipient whose message has been queued longer than `retry_max`
fails (4.4.7, RFC 3463: delivery time expired). Failed recipients get a
failure notice, once, in the same call that makes them final; deferred ones a
delay notice once the message is `delay_warning` old (the message's info
remembers it was sent). The notice is queued before the outcome is recorded:
a crash between the two can repeat a notice, never lose one.

Failure policy: a spool error raises (SpoolError); the caller logs it and the
recipients stay as they were, to be tried again at the next pass.
"""

import logging
import random
import time
from typing import NamedTuple

from . import dsn
from .status import Outcome

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
    now = time.time() if now is None else now
    outcomes = {a: _expired(entry, o, policy, now) for a, o in outcomes.items()}
    rcpts = {r.address: r for r in entry.recipients}
    failed = [_report(rcpts[a], o) for a, o in outcomes.items()
              if o.state == "failed" and dsn.wanted(rcpts[a], "failed")]
    dsn_qid = dsn.queue_notice(spool, "failed", entry, failed, policy.hostname)
    info = {}
    if _delay_notice_due(entry, outcomes, policy, now):
        late = [_report(rcpts[a], o) for a, o in outcomes.items()
                if o.state == "deferred" and dsn.wanted(rcpts[a], "delayed")]
        delay_qid = dsn.queue_notice(spool, "delayed", entry, late, policy.hostname,
                                     retry_until=entry.arrival + policy.retry_max)
        info = {entry.qid: {"delay_notice": now}}
        if delay_qid:
            log.info("%s: delay notice to <%s>: %s", entry.qid, entry.sender, delay_qid)
    removed = spool.update({entry.qid: {a: (o.state, o.record())
                                        for a, o in outcomes.items()}},
                           now=now, delay=policy.backoff, info=info)
    _log(entry, outcomes, now)
    if dsn_qid:
        log.info("%s: sender non-delivery notification: %s", entry.qid, dsn_qid)
    if removed:
        log.info("%s: removed", entry.qid)
    return outcomes


def _expired(entry, outcome, policy, now):
    if outcome.state != "deferred" or now - entry.arrival < policy.retry_max:
        return outcome
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
        log.info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)",
                 entry.qid, address, relay, delay, o.status, status, o.text)


def _days(seconds):
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds:.0f} s"
