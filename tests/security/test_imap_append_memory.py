"""A large APPEND must not be held in memory: imapd read every literal whole into
memory (one 60 MB literal was three copies of it: the literal, the joined command,
the parsed token), and anyone logged in could make it hold as much as the literal
limit. An APPEND's message now goes to a file in the folder's tmp/ in pieces as it
arrives, and is renamed into place: imapd's peak does not grow with the message.
A message refused or cut off leaves no file behind."""

import hashlib

import pytest

import procmem
from checks import PASSWORD, USER, assert_clean_log
from harness import wait_for
from rawimap import RawImap

SIZE = 64 << 20
# A process's peak moves a few MiB for reasons that do not depend on the message
# (buffers, a piece in flight, the allocator's arenas): a message this large puts
# a bound of an eighth of it well above those, and a copy of it far beyond.
BOUND = SIZE // 8
LINE = b"0123456789" * 7 + b"abcdef\r\n"            # 78 bytes: a legal line
CHUNK = LINE * ((1 << 20) // len(LINE))
HEADER = b"From: <a@sender.test>\r\nSubject: a large message\r\n\r\n"


@pytest.fixture
def big_imap(instance):
    # A key of [imapd], which is not the file's last table.
    instance.config.write_text(instance.config.read_text().replace(
        "[imapd]\n", f"[imapd]\nmax_message_size = {SIZE * 2}\n", 1))
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    assert_clean_log(instance, "imapd")


def tmp_files(instance):
    return list((instance.maildir(USER) / "tmp").iterdir())


def send_large(raw, size=SIZE, tag=b"t1"):
    """APPEND HEADER + chunks, `size` bytes in all, over a synchronizing literal;
    returns the sha256 of what was sent."""
    chunks = (size - len(HEADER)) // len(CHUNK)
    total = len(HEADER) + chunks * len(CHUNK)
    raw.send(tag + b" APPEND INBOX {%d}\r\n" % total)
    assert raw.line().startswith(b"+")
    digest = hashlib.sha256(HEADER)
    raw.send(HEADER)
    for _ in range(chunks):
        raw.send(CHUNK)
        digest.update(CHUNK)
    return digest.hexdigest()


def test_a_large_append_does_not_grow_peak_memory(big_imap):
    raw = RawImap(big_imap.port("imap"), timeout=120)
    raw.login()
    # A first, small APPEND pays the one-off costs of the path (modules loaded,
    # buffers and worker threads made), so the peak below measures what the
    # message's size costs and not what the first APPEND of a process costs.
    send_large(raw, size=2 << 20, tag=b"t0")
    raw.send(b"\r\n")
    assert raw.until("t0")[0].startswith(b"t0 OK [APPENDUID ")
    pid = big_imap.pids["imapd"]
    before = procmem.rss(pid)
    procmem.reset_peak(pid)
    digest = send_large(raw)
    raw.send(b"\r\n")
    tagged, _ = raw.until("t1")
    assert tagged.startswith(b"t1 OK [APPENDUID ")
    grown = procmem.peak(pid) - before
    files = sorted(big_imap.inbox_files(), key=lambda path: path.stat().st_size)
    assert len(files) == 2
    assert hashlib.sha256(files[1].read_bytes()).hexdigest() == digest
    assert tmp_files(big_imap) == []
    assert grown < BOUND, \
        f"peak grew {grown >> 20} MiB for a {SIZE >> 20} MiB message"


def test_a_message_cut_off_leaves_no_file(big_imap):
    raw = RawImap(big_imap.port("imap"))
    raw.login()
    raw.send(b"t1 APPEND INBOX {%d}\r\n" % (8 << 20))
    assert raw.line().startswith(b"+")
    raw.send(CHUNK)
    assert wait_for(lambda: tmp_files(big_imap))            # it is being written
    raw.close()
    assert wait_for(lambda: "reason=disconnected" in big_imap.log("imapd"))
    assert wait_for(lambda: tmp_files(big_imap) == [])
    assert big_imap.inbox_files() == []
