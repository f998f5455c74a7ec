"""TOP n 0 for clients that walk the message list. A client that shows a list of
messages, or checks each one against its leave-on-server rules, asks for every
header in turn, upwards or downwards; each TOP then costs a trip to a worker
thread, and the trip costs more than the work. So while the numbers asked come
one after another, the headers that come next are read in the same trip: two,
then four, up to AHEAD at a time; a jump elsewhere starts again from one. What
was read ahead and not yet asked for is held (at most AHEAD headers and
AHEAD_BYTES) and dropped at the next jump.

A header is read as TOP n 0 reads it: its length from the index (core.msginfo,
parsed at delivery), that many bytes of the file; the records and the lengths of
a batch come from one index transaction each.
"""

from ..core.mailfolder import NoSuchMessage
from .replies import stuffed

AHEAD = 32
AHEAD_BYTES = 256 * 1024


class ReadAhead:
    """One session's headers read ahead, by message number."""

    def __init__(self):
        self.kept = {}          # message number -> TOP n 0's data
        self.last = None        # the number of the last TOP n 0
        self.step = 0           # +1 or -1 while the client walks the list
        self.window = 1

    def take(self, number):
        """TOP `number` 0's data if it was read ahead, else None; either way the
        walk is followed."""
        step = 0 if self.last is None else number - self.last
        self.last = number
        if step in (1, -1) and self.step in (0, step):
            self.step = step
        else:
            self.step, self.window = 0, 1
            self.kept.clear()
        return self.kept.pop(number, None)

    def batch(self, number, drop):
        """The messages to read for a TOP `number` 0 that was not read ahead:
        itself and, during a walk, the next ones in its direction, twice as many
        as the last time."""
        if not self.step:
            return [number]
        self.window = min(self.window * 2, AHEAD)
        span = range(number, number + self.step * self.window, self.step)
        return [n for n in span if 1 <= n <= len(drop) and n not in drop.deleted]

    def keep(self, found):
        """Hold headers read ahead ({number: data}), within AHEAD_BYTES."""
        size = sum(len(data) for data in self.kept.values())
        for number, data in found.items():
            size += len(data)
            if size > AHEAD_BYTES:
                return
            self.kept[number] = data


def read(folder, uids):
    """{uid: TOP n 0's data} for these messages; one removed meanwhile is left
    out. Blocking: for a worker thread."""
    records = folder.records(uids)
    lengths = folder.message_infos(list(records.values()))
    found = {}
    for uid, record in records.items():
        try:
            found[uid] = stuffed(folder.read(record, lengths[uid]["header"]))
        except NoSuchMessage:
            continue
    return found
