"""A queued message's record: its queue id, its recipients and their states, its
JSON form in the spool's `meta` table, and the retry schedule (core.spool owns
the table).

    new_qid() -> str;  check_qid(qid);  backoff(attempts) -> seconds
    Recipient(address, state="pending", error="");  recipient.final
    Entry(qid, sender, recipients, arrival, size, attempts=0, next_try=0.0, info={},
          held=False)     # held: mailctl queue hold; deliverd skips the message
        entry.pending();  entry.to_json() -> bytes;  Entry.from_json(qid, raw)

Failure policy: from_json raises ValueError for a record that is not one of ours
(the spool then quarantines it).
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from .spoolfiles import SpoolError

BACKOFF_MIN = 300         # seconds before the first retry (Postfix: minimal_backoff_time)
BACKOFF_MAX = 4000        # longest wait between retries (Postfix: maximal_backoff_time)
FINAL = ("done", "failed")
STATES = ("pending", "deferred") + FINAL

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_qid_lock = threading.Lock()
_last_us = 0


def _base36(number, width):
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def new_qid():
    """A queue id: microseconds since the epoch (10 chars) + 4 random chars.

    Strictly increasing within a process; the random part keeps two processes apart.
    """
    global _last_us
    with _qid_lock:
        _last_us = max(time.time_ns() // 1000, _last_us + 1)
        now = _last_us
    return _base36(now, 10) + _base36(secrets.randbelow(36 ** 4), 4)


def backoff(attempts):
    """Seconds to wait after the `attempts`-th deferral: doubling, capped."""
    return min(BACKOFF_MIN * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


@dataclass
class Recipient:
    address: str
    state: str = "pending"      # pending | deferred | done | failed
    error: str = ""

    @property
    def final(self):
        return self.state in FINAL


@dataclass
class Entry:
    """A queued message's metadata (its bytes are `Spool.load(qid)`)."""
    qid: str
    sender: str
    recipients: list
    arrival: float
    size: int
    attempts: int = 0
    next_try: float = 0.0
    info: dict = field(default_factory=dict)
    held: bool = False

    def pending(self):
        """The recipients that are not final yet."""
        return [r for r in self.recipients if not r.final]

    def to_json(self):
        return json.dumps({
            "sender": self.sender,
            "rcpts": [[r.address, r.state, r.error] for r in self.recipients],
            "arrival": self.arrival, "size": self.size, "attempts": self.attempts,
            "next_try": self.next_try, "info": self.info, "held": self.held,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, qid, raw):
        """Parse a record; raises ValueError when it is not one of ours."""
        try:
            doc = json.loads(raw)
            rcpts = [Recipient(str(a), str(s), str(e)) for a, s, e in doc["rcpts"]]
            entry = cls(qid, str(doc["sender"]), rcpts, float(doc["arrival"]),
                        int(doc["size"]), int(doc["attempts"]), float(doc["next_try"]),
                        dict(doc["info"]), bool(doc.get("held", False)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"bad spool record: {exc}") from None
        if not rcpts or any(r.state not in STATES for r in rcpts):
            raise ValueError("bad spool record: recipients")
        return entry


def check_qid(qid):
    """Raise SpoolError unless `qid` could come from new_qid()."""
    # A queue id also names a file: nothing but the 14 characters of new_qid().
    if not isinstance(qid, str) or len(qid) != 14 or qid.strip(_ALPHABET):
        raise SpoolError(f"not a queue id: {qid!r}")
