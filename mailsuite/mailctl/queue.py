"""mailctl queue list|show|retry|retry-all|delete|hold|release|stats: the messages
waiting in the spool (core.spool).

Each change is one spool commit; retry, retry-all and release then wake deliverd
(a hint: if it is lost, deliverd's next scan finds the message). A queue that was
never created is an empty one: mailctl does not create it, since the spool
belongs to the daemons' user. Refusals, exit 1: a queue id that is not one, a
message that is not queued, retrying a held message.
"""

import datetime
import time

import click

from ..core import notify
from ..core.spool import Spool, SpoolError
from ..core.spoolentry import check_qid
from . import Failure, main, pass_instance

HEADER_MAX = 1 << 20           # bytes of header section `show` prints at most
AGES = ((3600, "under 1h"), (86400, "1h-1d"), (5 * 86400, "1d-5d"), (None, "over 5d"))
EMPTY = "queue is empty"


@main.group("queue")
def queue_group():
    """Inspect and manage the queue of messages waiting for delivery."""


class _Queue:
    """The spool of an instance, if it exists, and deliverd's wake-up."""

    def __init__(self, instance):
        cfg = instance.config
        self.wakeup = cfg.runtime_dir / "deliverd.wakeup"
        self.spool = Spool(cfg.state_dir) if (cfg.state_dir / "spool").is_dir() else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.spool is not None:
            self.spool.close()

    def entries(self):
        return self.spool.entries() if self.spool else []

    def entry(self, qid):
        """The queued message `qid`; Failure when there is none."""
        try:
            check_qid(qid)
        except SpoolError as exc:
            raise Failure(str(exc)) from None
        entry = self.spool.get(qid) if self.spool else None
        if entry is None:
            raise Failure(f"no message {qid} in the queue")
        return entry

    def wake_deliverd(self):
        notify.send(self.wakeup)


@queue_group.command("list")
@pass_instance
def list_(instance):
    """Print every queued message: queue id, age, size, sender and "held" for a
    held message, then one line per recipient with its state and last error."""
    with _Queue(instance) as queue:
        entries = queue.entries()
    if not entries:
        click.echo(EMPTY)
    now = time.time()
    for entry in entries:
        held = "  held" if entry.held else ""
        click.echo(f"{entry.qid}  {_age(now - entry.arrival):>6}  "
                   f"{_size(entry.size):>6}  <{entry.sender}>{held}")
        for rcpt in entry.recipients:
            click.echo(f"    {rcpt.address}  {rcpt.state}  {rcpt.error}".rstrip())


@queue_group.command("show")
@click.argument("qid")
@pass_instance
def show(instance, qid):
    """Print a message's queue record, then its header section."""
    with _Queue(instance) as queue:
        entry = queue.entry(qid)
        try:
            with queue.spool.open(qid) as message:
                header = _header_section(message)
        except KeyError:
            raise Failure(f"no message {qid} in the queue") from None
    for name, value in _record(entry, time.time()):
        click.echo(f"{name}: {value}")
    click.echo("")
    click.echo(header.decode("utf-8", "replace").replace("\r\n", "\n"), nl=False)


@queue_group.command("retry")
@click.argument("qid")
@pass_instance
def retry(instance, qid):
    """Try to deliver the message QID now rather than at its next attempt."""
    with _Queue(instance) as queue:
        if queue.entry(qid).held:
            raise Failure(f"{qid} is held: mailctl queue release {qid}")
        queue.spool.retry([qid])
        queue.wake_deliverd()


@queue_group.command("retry-all")
@pass_instance
def retry_all(instance):
    """Try every message that is not held now; print how many."""
    with _Queue(instance) as queue:
        qids = queue.spool.retry([e.qid for e in queue.entries()]) if queue.spool else []
        if qids:
            queue.wake_deliverd()
    click.echo(f"{len(qids)} message(s) due now")


@queue_group.command("delete")
@click.argument("qid")
@pass_instance
def delete(instance, qid):
    """Remove the message QID from the queue, its file with it, for every
    recipient, without a bounce."""
    with _Queue(instance) as queue:
        queue.entry(qid)
        queue.spool.remove(qid)


@queue_group.command("hold")
@click.argument("qid")
@pass_instance
def hold(instance, qid):
    """Keep the message QID in the queue, undelivered, until it is released."""
    with _Queue(instance) as queue:
        queue.entry(qid)
        queue.spool.hold(qid)


@queue_group.command("release")
@click.argument("qid")
@pass_instance
def release(instance, qid):
    """Let a held message go again: delivered at its next attempt, at once if
    that time has passed."""
    with _Queue(instance) as queue:
        queue.entry(qid)
        queue.spool.hold(qid, held=False)
        queue.wake_deliverd()


@queue_group.command("stats")
@pass_instance
def stats(instance):
    """Print the number of messages (held ones among them) and their size, the
    recipients by state, the messages by age, and the oldest message."""
    with _Queue(instance) as queue:
        entries = queue.entries()
        quarantined = len(queue.spool.quarantined()) if queue.spool else 0
    now = time.time()
    held = sum(entry.held for entry in entries)
    size = sum(entry.size for entry in entries)
    states = [r.state for entry in entries for r in entry.recipients]
    click.echo(f"messages: {len(entries)} ({held} held), {_size(size)}")
    click.echo("recipients: " + ", ".join(
        f"{state} {states.count(state)}" for state in ("pending", "deferred", "done",
                                                         "failed")))
    click.echo("age: " + ", ".join(f"{label} {count}" for label, count
                                   in _by_age(entries, now)))
    oldest = min(entries, key=lambda entry: entry.arrival, default=None)
    click.echo("oldest: " + (f"{oldest.qid} {_age(now - oldest.arrival)}"
                             if oldest else "none"))
    click.echo(f"quarantined: {quarantined}")


def _by_age(entries, now):
    counts = {label: 0 for _, label in AGES}
    for entry in entries:
        age = now - entry.arrival
        label = next(label for limit, label in AGES if limit is None or age < limit)
        counts[label] += 1
    return counts.items()


def _record(entry, now):
    """The lines of `show` before the headers, as (name, value)."""
    lines = [("queue id", entry.qid), ("sender", f"<{entry.sender}>"),
             ("arrival", f"{_when(entry.arrival)} ({_age(now - entry.arrival)} ago)"),
             ("size", entry.size), ("attempts", entry.attempts),
             ("next attempt", "held" if entry.held else
              _when(entry.next_try) if entry.next_try > now else "now")]
    for name in ("user", "envid", "ret", "requiretls"):
        value = getattr(entry, name, None)
        if value not in (None, False):
            lines.append((name, value))
    lines += [(f"info {key}", value) for key, value in sorted(entry.info.items())]
    lines += [("recipient", f"{r.address} {r.state} {r.error}".rstrip())
              for r in entry.recipients]
    return lines


def _header_section(message):
    """The header section of an open message, up to its blank line, at most
    HEADER_MAX bytes."""
    lines, size = [], 0
    while size < HEADER_MAX:
        line = message.readline(HEADER_MAX - size)
        if line in (b"", b"\r\n", b"\n"):
            break
        lines.append(line)
        size += len(line)
    header = b"".join(lines)
    return header if header.endswith(b"\n") or not header else header + b"\n"


def _when(epoch):
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds):
    seconds = max(int(seconds), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _size(size):
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}"
    return str(size)
