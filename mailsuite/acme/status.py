"""STATE/acme/status.json: the last renewal attempt, its result and the back-off.

A failure doubles the wait before the next automatic attempt, from BACKOFF_FIRST up
to BACKOFF_MAX, so that a server the CA cannot reach does not spend the CA's
failed-validation limit (Let's Encrypt allows 5 an hour per account and name); a
success resets it. `mailctl cert renew` tries at once whatever the back-off. A
file that cannot be read counts as no attempt yet: it is rewritten at the next one.
"""

import json
import time
from dataclasses import asdict, dataclass

from ..core import files

BACKOFF_FIRST = 3600        # seconds after the first failure
BACKOFF_MAX = 86400         # the daily timer tries at least this often anyway


@dataclass(frozen=True)
class Status:
    last_attempt: float = 0.0   # Unix time; 0 is never
    result: str = ""            # "ok" or what failed
    failures: int = 0           # failed attempts in a row
    next_attempt: float = 0.0   # the earliest automatic attempt (Unix time)

    def failed(self, why, now=None):
        now = time.time() if now is None else now
        wait = min(BACKOFF_FIRST * 2 ** self.failures, BACKOFF_MAX)
        return Status(now, why, self.failures + 1, now + wait)

    @staticmethod
    def succeeded(now=None):
        return Status(time.time() if now is None else now, "ok", 0, 0.0)

    def backing_off(self, now=None):
        return self.next_attempt > (time.time() if now is None else now)


def path(cfg):
    return cfg.state_path("acme", "status.json")


def load(cfg):
    try:
        data = json.loads(path(cfg).read_text())
        return Status(**{key: data[key] for key in Status.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return Status()


def save(cfg, status, gid=None):
    files.write_atomic(path(cfg), json.dumps(asdict(status)).encode(), 0o644, gid)
