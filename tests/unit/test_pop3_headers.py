"""mailsuite.pop3.headers: TOP n 0 read ahead while a client walks the message
list, and read from the index's header lengths."""

import array

from mailsuite.core import maildir
from mailsuite.pop3 import headers
from mailsuite.pop3.maildrop import Maildrop

HEADER = b"Subject: s\r\nX: y\r\n\r\n"


def drop(count=100):
    return Maildrop(None, 1, array.array("I", range(1, count + 1)),
                    array.array("q", [10] * count))


def walk(ahead, box, numbers):
    """The batch each TOP n 0 would read (None where it was read ahead)."""
    out = []
    for number in numbers:
        if ahead.take(number) is not None:
            out.append(None)
            continue
        batch = ahead.batch(number, box)
        ahead.keep({n: b"h" for n in batch[1:]})
        out.append(batch)
    return out


def test_a_walk_up_reads_ahead_more_and_more():
    got = walk(headers.ReadAhead(), drop(), range(1, 16))
    assert got == [[1], [2, 3], None, [4, 5, 6, 7], None, None, None,
                   [8] + list(range(9, 16)), None, None, None, None, None, None, None]


def test_a_walk_down_and_its_end():
    box = drop(10)
    got = walk(headers.ReadAhead(), box, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    assert got[:4] == [[10], [9, 8], None, [7, 6, 5, 4]]
    assert got[7] == [3, 2, 1]         # nothing below message 1


def test_a_jump_starts_again_and_drops_what_was_held():
    ahead = headers.ReadAhead()
    walk(ahead, drop(), [1, 2, 4])
    assert ahead.window == 1 and ahead.kept == {}
    assert walk(ahead, drop(), [50, 51]) == [[50], [51, 52]]


def test_deleted_messages_are_not_read_ahead():
    box = drop()
    box.deleted.update({3, 4})
    assert walk(headers.ReadAhead(), box, [1, 2]) == [[1], [2]]


def test_what_is_held_is_bounded():
    ahead = headers.ReadAhead()
    ahead.keep({n: b"x" * (headers.AHEAD_BYTES // 4) for n in range(10)})
    assert len(ahead.kept) == 4


def test_read_takes_the_header_lengths_from_the_index(tmp_path):
    with maildir.Store(tmp_path / "mail") as store:
        store.deliver("1.a", HEADER + b"body\r\n")
        store.deliver("2.b", b".dot: header\n\nLF body\n")
        folder = store.folder("INBOX")
        reads = []
        real = folder.read
        folder.read = lambda record, length=None: reads.append(length) or \
            real(record, length)
        assert headers.read(folder, [1, 2, 3]) == {
            1: HEADER + b".\r\n", 2: b"..dot: header\r\n\r\n.\r\n"}
        assert reads == [len(HEADER), len(b".dot: header\r\n\r\n")]
