"""Per-message DMARC records, kept for aggregate reports (RFC 7489 7.2) to be
built later: an LMDB environment `dmarc` in the state dir, table `messages`,
keyed by queue id (time-ordered), one JSON record each.

    with DmarcRecords(state_dir) as records:
        records.add(DmarcRecord(...))         # blocking: for a thread
        records.submit(DmarcRecord(...))      # added by a writer thread of its own
        records.since(qid="") -> [DmarcRecord]

A record is written for every message whose From domain was checked, refused
ones included (a report counts them).

Failure policy: the records are statistics, not mail. They are written without
fsync (LMDB's sync=False: a crash of the machine may lose the last ones, a crash
of the process loses none); a write that fails (full map, full disk) raises
lmdb.Error to the caller; `submit` logs it, and the message goes on.
"""

import concurrent.futures
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lmdb

from ...core import lmdbenv

MAP_SIZE = 1 << 30
log = logging.getLogger("smtpd")


@dataclass
class DmarcRecord:
    qid: str
    time: int
    source_ip: str
    header_from: str
    envelope_from: str          # the MAIL FROM (or HELO) domain SPF checked
    spf: str                    # the MAIL FROM result
    dkim: list = field(default_factory=list)    # [[domain, selector, result]]
    dmarc: str = "none"
    policy_domain: str = ""     # where the record was found
    policy: str = "none"
    disposition: str = "none"


class DmarcRecords(lmdbenv.Handle):
    def __init__(self, state_dir):
        self._shared = lmdbenv.acquire(Path(state_dir) / "dmarc", ("messages",),
                                       map_size=MAP_SIZE, sync=False,
                                       metasync=False)
        self.env = self._shared.env
        self._table = self._shared.db["messages"]
        self._writer = None

    def submit(self, record):
        """Add `record` in the writer thread: the session does not wait for it."""
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(1, "dmarc-records")
        self._writer.submit(self._add_logged, record)

    def _add_logged(self, record):
        try:
            self.add(record)
        except lmdb.Error as exc:
            log.error("%s: DMARC record not kept: %s", record.qid, exc)

    def close(self):
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        super().close()

    def add(self, record):
        value = json.dumps(asdict(record), sort_keys=True).encode()
        with self.env.begin(write=True, db=self._table) as txn:
            txn.put(record.qid.encode(), value)

    def since(self, qid=""):
        """The records of the messages queued after `qid`, in order."""
        with self.env.begin(db=self._table) as txn:
            cursor = txn.cursor()
            found = cursor.set_range(qid.encode()) if qid else cursor.first()
            records = []
            while found:
                key, value = cursor.item()
                if key.decode() != qid:
                    records.append(DmarcRecord(**json.loads(value)))
                found = cursor.next()
        return records
