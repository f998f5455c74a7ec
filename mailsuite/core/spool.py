"""The queue: messages accepted and not yet final, in an LMDB environment.

Owns `<state_dir>/spool`. Writers are smtpd, submitd and mailctl (enqueue) and
deliverd (the queue-runner side); LMDB serializes them across processes.

    def new_qid() -> str        # 14 chars of [0-9A-Z], sortable by arrival time
    class Spool:
        def __init__(self, state_dir)   # env at <state_dir>/spool
        def draft(self, qid) -> Draft   # a message being received (core.spoolfiles):
            # `await draft.write(piece)` as it arrives; over INLINE_MAX it goes
            # to the file <state_dir>/spool/files/<qid> instead of memory
        async def enqueue(self, qid, sender, recipients, data, info=None,
                          alone=False, options=None)
            # data: bytes or a Draft; recipients: addresses or Recipients (DSN
            # parameters); options: an Options (DSN, REQUIRETLS, the submitter);
            # returns once the message is durable (fsync'ed); concurrent callers
            # in one process share commits (group commit: one fsync for a batch)
        def enqueue_sync(self, qid, sender, recipients, data, info=None,
                         options=None)
        # queue runner (deliverd), mailctl:
        def due(self, now=None, limit=None, skip=()) -> list[Entry]  # next_try <= now
        def get(self, qid) -> Entry | None;  entries(self) -> list[Entry]
        def open(self, qid) -> binary file    # the message, inline or in a file
        def load(self, qid) -> bytes          # the message whole: for small ones
        def update(self, results, now=None, delay=backoff, info=None)
            # -> removed qids; delay(attempts) -> seconds; info merged
        def forward(self, qid, targets) -> Entry | None    # alias -> targets added
        def next_due(self, skip=()) -> float | None           # earliest next_try
        def remove(self, qid);  count(self) -> int;  quarantined(self) -> list[str]
        # mailctl queue:
        def retry(self, qids, now=None) -> list[str]    # due now, unless held
        def hold(self, qid, held=True) -> Entry | None  # release: held=False
        def remove_orphans(self, now=None) -> list[str]       # deliverd, hourly

The records (Entry, Recipient), queue ids and the retry backoff are in
core.spoolentry, the message files in core.spoolfiles; both are re-exported here.

Tables: `meta` (qid -> JSON: sender, recipients with their states, arrival, size,
attempts, next_try, info), `data` (qid -> message bytes, for a message of at most
INLINE_MAX bytes), `files` (qid -> empty, for a message in its file instead),
`schedule` (next_try in ms, big-endian, + qid -> empty: the runner's cheap scan;
a held message has no entry there, so the runner never reads it) and
`quarantine`.

Failure policy: a message is acknowledged only after the commit holding it has been
fsync'ed, and a message file is fsync'ed, then its directory, before the commit that
records it; a failed commit fails every caller in its batch, who then answer with a
temporary error, and removes their files. A record that cannot be parsed is
quarantined (moved to the `quarantine` table, its data and file kept), never
deleted. A message leaves the queue only when every recipient is final (done or
failed); its file is removed after the commit that removed its record. A file no
record refers to (a crash between the file and its commit, or between a removal's
commit and the unlink) is removed by remove_orphans once it is ORPHAN_AGE old:
deliverd calls it at start and every ORPHAN_SCAN seconds.
"""

import asyncio
import io
import logging
import struct
import threading
import time
from pathlib import Path

from . import lmdbenv, spoolfiles
from .spoolentry import (BACKOFF_MAX, BACKOFF_MIN, Entry, Options, Recipient,
                         backoff, check_qid, new_qid)
from .spoolfiles import INLINE_MAX, ORPHAN_AGE, Draft, SpoolError, SpoolFull, spool_error

__all__ = ["Spool", "Entry", "Options", "Recipient", "Draft", "SpoolError", "SpoolFull",
           "new_qid", "backoff", "BACKOFF_MIN", "BACKOFF_MAX", "INLINE_MAX",
           "ORPHAN_AGE", "ORPHAN_SCAN"]

log = logging.getLogger(__name__)

MAP_SIZE = 64 << 30       # address space only: the file is sparse and grows as used
TABLES = ("meta", "data", "files", "schedule", "quarantine")
MAX_BATCH = 512           # records in one group commit
ORPHAN_SCAN = 3600        # seconds between deliverd's looks for orphaned files

_writer_lock = threading.Lock()


def _schedule_key(next_try, qid):
    return struct.pack(">Q", max(int(next_try * 1000), 0)) + qid.encode()


def _new_entry(qid, sender, recipients, size, info, options):
    """A new message's record. A recipient is an address, or a Recipient with its
    DSN parameters; the first of each address counts."""
    check_qid(qid)
    unique = {}
    for rcpt in recipients:
        rcpt = Recipient(rcpt) if isinstance(rcpt, str) else rcpt
        unique.setdefault(rcpt.address, rcpt)
    if not unique:
        raise SpoolError(f"{qid}: no recipients")
    now = time.time()
    return Entry(qid, sender, list(unique.values()), now, size, next_try=now,
                 info=dict(info or {}), **(options or Options())._asdict())


def _add_targets(entry, targets):
    known = {rcpt.address for rcpt in entry.recipients}
    aliases = {rcpt.address: rcpt for rcpt in entry.recipients}
    for alias, addresses in targets.items():
        origin = aliases.get(alias) or Recipient(alias)
        for address in addresses:
            if address not in known:
                known.add(address)
                entry.recipients.append(Recipient(
                    address, notify=origin.notify,
                    orcpt=origin.orcpt or f"rfc822;{alias}"))


def _insert(txn, db, entry, data):
    """Write one new message inside `txn`; a duplicate qid is refused. `data` is
    the message, or None when it is in its file."""
    key = entry.qid.encode()
    if not txn.put(key, entry.to_json(), db=db["meta"], overwrite=False):
        raise SpoolError(f"{entry.qid}: queue id already in use")
    if data is None:
        txn.put(key, b"", db=db["files"])
    else:
        txn.put(key, data, db=db["data"])
    txn.put(_schedule_key(entry.next_try, entry.qid), b"", db=db["schedule"])


class Spool(lmdbenv.Handle):
    """The queue at `<state_dir>/spool`."""

    def __init__(self, state_dir):
        self._shared = lmdbenv.acquire(Path(state_dir) / "spool", TABLES,
                                       map_size=MAP_SIZE, sync=True, metasync=True)
        self._env = self._shared.env
        self._db = self._shared.db
        self._files = Path(state_dir) / "spool" / "files"

    # accepting

    def draft(self, qid):
        """A message to be received piece by piece, then given to enqueue()."""
        check_qid(qid)
        return Draft(self._files, qid)

    async def enqueue(self, qid, sender, recipients, data, info=None, alone=False,
                      options=None):
        """Queue a message (bytes or a Draft); returns once it is durable. Raises
        SpoolError. `recipients` are addresses or Recipients (with their DSN
        parameters); `options` is an Options (DSN, REQUIRETLS, the submitter).

        `alone` says the caller is the only client being served: then the commit
        of a message in memory runs in the calling thread, because there is
        nobody to share it with and the hand-off to the writer thread costs more
        than the loop's pause."""
        draft = _on_disk(qid, data)
        if draft is None:
            data = _in_memory(data)
            if alone:
                return self.enqueue_sync(qid, sender, recipients, data, info,
                                         options)
        entry = _new_entry(qid, sender, recipients,
                           draft.size if draft is not None else len(data), info,
                           options)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        done = _when_done(loop, future, draft)
        if draft is None:
            self._writer().submit(lambda txn: _insert(txn, self._db, entry, data), done)
        else:
            draft.take()
            loop.run_in_executor(None, self._seal_and_commit, draft, entry, done)
        await future

    def _seal_and_commit(self, draft, entry, done):
        """The file is durable before the commit that records it. A thread's
        work: once the draft is taken, a cancelled caller changes nothing."""
        try:
            draft.seal()
        except Exception as exc:
            done(exc)
            return
        self._writer().submit(lambda txn: _insert(txn, self._db, entry, None), done)

    def enqueue_sync(self, qid, sender, recipients, data, info=None, options=None):
        """Queue a message in the calling thread, in its own commit."""
        draft = _on_disk(qid, data)
        data = None if draft is not None else _in_memory(data)
        entry = _new_entry(qid, sender, recipients,
                           draft.size if draft is not None else len(data), info,
                           options)
        try:
            if draft is not None:
                draft.take()
                draft.seal()
            with self._env.begin(write=True) as txn:
                _insert(txn, self._db, entry, data)
        except Exception as exc:
            if draft is not None:
                draft.remove_file()
            raise spool_error(exc) from None

    def _writer(self):
        """The environment's group-commit thread (one per process), started lazily."""
        helpers = self._shared.helpers
        writer = helpers.get("writer")
        if writer is None:
            with _writer_lock:
                writer = helpers.get("writer")
                if writer is None:
                    writer = helpers["writer"] = lmdbenv.GroupCommit(
                        self._env, refused=(SpoolError,), max_batch=MAX_BATCH,
                        name="spool-writer")
        return writer

    # reading

    def due(self, now=None, limit=None, skip=frozenset()):
        """Messages whose next attempt is due, oldest schedule first; those in
        `skip` (qids being worked on) are passed over without being read."""
        end = _schedule_key(time.time() if now is None else now, "~")
        found, bad = [], []
        with self._env.begin() as txn:
            for key in txn.cursor(db=self._db["schedule"]).iternext(values=False):
                if key > end or (limit is not None and len(found) >= limit):
                    break
                qid = key[8:].decode("ascii", "replace")
                if qid in skip:
                    continue
                entry = self._entry(txn, qid, bad)
                if entry is not None:
                    found.append(entry)
        self._quarantine(bad)
        return found

    def get(self, qid):
        bad = []
        with self._env.begin() as txn:
            entry = self._entry(txn, qid, bad)
        self._quarantine(bad)
        return entry

    def entries(self):
        """Every queued message, in arrival order."""
        found, bad = [], []
        with self._env.begin() as txn:
            for key in txn.cursor(db=self._db["meta"]).iternext(values=False):
                entry = self._entry(txn, key.decode("ascii", "replace"), bad)
                if entry is not None:
                    found.append(entry)
        self._quarantine(bad)
        return found

    def open(self, qid):
        """The message as a binary file, whether it is in its record or in its
        own file; raises KeyError when the message is not queued."""
        key = qid.encode()
        with self._env.begin() as txn:
            data = txn.get(key, db=self._db["data"])
            in_file = data is None and txn.get(key, db=self._db["files"]) is not None
        if data is not None:
            return io.BytesIO(data)
        if not in_file:
            raise KeyError(qid)
        try:
            return open(self._files / qid, "rb")
        except FileNotFoundError:
            raise KeyError(qid) from None      # removed since the record was read

    def load(self, qid):
        """The message bytes; raises KeyError when the message is not queued."""
        with self.open(qid) as message:
            return message.read()

    def next_due(self, skip=frozenset()):
        """When the earliest scheduled attempt is due (epoch seconds), or None;
        the messages in `skip` (qids being worked on) are passed over."""
        with self._env.begin() as txn:
            for key in txn.cursor(db=self._db["schedule"]).iternext(values=False):
                if key[8:].decode("ascii", "replace") not in skip:
                    return struct.unpack(">Q", key[:8])[0] / 1000
        return None

    def count(self):
        with self._env.begin() as txn:
            return txn.stat(self._db["meta"])["entries"]

    def quarantined(self):
        with self._env.begin() as txn:
            keys = txn.cursor(db=self._db["quarantine"]).iternext(values=False)
            return [key.decode("ascii", "replace") for key in keys]

    def _entry(self, txn, qid, bad):
        raw = txn.get(qid.encode(), db=self._db["meta"])
        if raw is None:
            return None
        try:
            return Entry.from_json(qid, raw)
        except ValueError as exc:
            bad.append((qid, str(exc)))
            return None

    # the queue runner

    def update(self, results, now=None, delay=backoff, info=None):
        """Record delivery outcomes, all in one commit.

        `results` is {qid: {address: (state, error)}} with state "done", "failed"
        or "deferred". A message with a deferred recipient is tried again after
        `delay(attempts)` (by default `backoff`); one whose recipients are all
        final is removed. `info`, {qid: {key: value}}, is merged into the
        messages' info. Returns the qids removed.
        """
        now = time.time() if now is None else now
        info = info or {}
        removed, bad, files = [], [], []
        try:
            with self._env.begin(write=True) as txn:
                for qid, outcome in results.items():
                    entry = self._entry(txn, qid, bad)
                    if entry is not None:
                        entry.info.update(info.get(qid, {}))
                    if entry is not None and self._apply(txn, entry, outcome, now,
                                                         files, delay):
                        removed.append(qid)
        except Exception as exc:
            raise spool_error(exc) from None
        spoolfiles.remove(self._files, files)
        self._quarantine(bad)
        return removed

    def forward(self, qid, targets):
        """Add an alias's targets outside our domains to the message's
        recipients, in one commit: {alias address: [target address]}. RFC 5321
        3.9.1: the alias is replaced by its targets, the rest of the envelope
        unchanged; RFC 3461 6.2.7: a target inherits the alias's NOTIFY, and
        its ORCPT (the alias itself when it had none). A target already a
        recipient is not added again, so a repeated call adds nothing. Returns
        the updated Entry, None when the message is gone."""
        bad = []
        try:
            with self._env.begin(write=True) as txn:
                entry = self._entry(txn, qid, bad)
                if entry is not None:
                    _add_targets(entry, targets)
                    txn.put(qid.encode(), entry.to_json(), db=self._db["meta"])
        except Exception as exc:
            raise spool_error(exc) from None
        self._quarantine(bad)
        return entry

    def _apply(self, txn, entry, outcome, now, files, delay):
        """Apply one message's outcome; True if it left the queue."""
        for rcpt in entry.recipients:
            if rcpt.address in outcome and not rcpt.final:
                rcpt.state, rcpt.error = outcome[rcpt.address]
        txn.delete(_schedule_key(entry.next_try, entry.qid), db=self._db["schedule"])
        if not entry.pending():
            self._delete(txn, entry.qid, files)
            return True
        if any(r.state == "deferred" for r in entry.recipients
               if r.address in outcome):
            entry.attempts += 1
            entry.next_try = now + delay(entry.attempts)
        self._put(txn, entry)
        return False

    def _put(self, txn, entry):
        """Write a changed record; it is scheduled unless held."""
        txn.put(entry.qid.encode(), entry.to_json(), db=self._db["meta"])
        if not entry.held:
            txn.put(_schedule_key(entry.next_try, entry.qid), b"",
                    db=self._db["schedule"])

    def retry(self, qids, now=None):
        """Make the messages `qids` due `now`; a held one, or one no longer
        queued, is left alone. Returns the qids made due."""
        now = time.time() if now is None else now

        def due_now(entry):
            entry.next_try = now
            return not entry.held
        return self._change(qids, due_now)

    def hold(self, qid, held=True):
        """Hold a message (the runner skips it) or release it, due again at its
        next_try; returns its Entry, or None when it is not queued."""
        def mark(entry):
            entry.held = held
            return True
        return self.get(qid) if self._change([qid], mark) else None

    def _change(self, qids, change):
        """Apply `change(entry)` to each message, in one commit; those for
        which it returns False are left as they were."""
        done, bad = [], []
        with self._env.begin(write=True) as txn:
            for qid in qids:
                entry = self._entry(txn, qid, bad)
                if entry is None:
                    continue
                old_key = _schedule_key(entry.next_try, qid)
                if change(entry):
                    txn.delete(old_key, db=self._db["schedule"])
                    self._put(txn, entry)
                    done.append(qid)
        self._quarantine(bad)
        return done

    def remove(self, qid):
        """Drop a message whatever its state (mailctl queue delete)."""
        files = []
        with self._env.begin(write=True) as txn:
            raw = txn.get(qid.encode(), db=self._db["meta"])
            if raw is not None:
                try:
                    entry = Entry.from_json(qid, raw)
                    txn.delete(_schedule_key(entry.next_try, qid),
                               db=self._db["schedule"])
                except ValueError:
                    pass
            self._delete(txn, qid, files)
        spoolfiles.remove(self._files, files)

    def _delete(self, txn, qid, files):
        """Delete a message's record; its file (noted in `files`) goes once the
        commit is done."""
        key = qid.encode()
        txn.delete(key, db=self._db["meta"])
        txn.delete(key, db=self._db["data"])
        if txn.delete(key, db=self._db["files"]):
            files.append(qid)

    def remove_orphans(self, now=None):
        """Remove the message files that no record refers to and that are
        ORPHAN_AGE old; returns their names."""
        old = spoolfiles.old_files(self._files, time.time() if now is None else now)
        if not old:
            return []
        with self._env.begin() as txn:
            orphans = [name for name in old
                       if txn.get(name.encode(), db=self._db["files"]) is None]
        spoolfiles.remove(self._files, orphans)
        for name in orphans:
            log.warning("%s: removed a message file no queue record refers to", name)
        return orphans

    def _quarantine(self, bad):
        """Move unparseable records aside (data kept) so scans stop tripping on them."""
        if not bad:
            return
        with self._env.begin(write=True) as txn:
            for qid, why in bad:
                key = qid.encode()
                raw = txn.get(key, db=self._db["meta"])
                if raw is None:
                    continue
                txn.put(key, raw, db=self._db["quarantine"])
                txn.delete(key, db=self._db["meta"])
                self._drop_schedule(txn, key)
                log.error("%s: quarantined: %s", qid, why)

    def _drop_schedule(self, txn, key):
        cursor = txn.cursor(db=self._db["schedule"])
        stale = [k for k in cursor.iternext(values=False) if k[8:] == key]
        for k in stale:
            txn.delete(k, db=self._db["schedule"])


def _settle(future, error):
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _when_done(loop, future, draft):
    """The writer's callback for one enqueue: it removes the file of a draft whose
    commit failed, then settles the caller's future."""
    def done(error):
        if error and draft is not None:
            draft.remove_file()
        try:
            loop.call_soon_threadsafe(_settle, future, error and spool_error(error))
        except RuntimeError:
            pass      # the loop is gone: nobody is waiting for the answer
    return done


def _in_memory(data):
    return data.value() if isinstance(data, Draft) else data


def _on_disk(qid, data):
    """The Draft if `data` is one whose message is in its file, else None."""
    if not isinstance(data, Draft):
        return None
    if data.qid != qid:
        raise SpoolError(f"{qid}: the draft is {data.qid}'s")
    return data if data.on_disk else None
