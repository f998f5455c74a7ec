"""QUIT on a full disk: the deletions cannot be committed, so the answer is
-ERR [SYS/TEMP] (RFC 1939 6: "some deleted messages not removed") and nothing
is removed, then or later; the mailbox is free for the next session at once.

The disk is really full (a tmpfs of the test's own, filled up), and the messages
were indexed in one commit into a new index, which leaves its file next to no free
page: the expunge's commit needs pages the full disk refuses.
"""

import pytest

from checks import PASSWORD, USER, assert_clean_log
from diskfull import mailbox_files
from mailsuite.core.maildir import Store
from protocol.popclient import RawPop

MESSAGES = 20


@pytest.fixture
def pop3_small_disk(instance, small_disk):
    instance.add_user(USER, PASSWORD)
    with Store(instance.maildir(USER)) as store:
        store.deliver_many([(f"{n}.disk-full.test",
                             f"Subject: message {n}\r\n\r\nbody {n}\r\n".encode())
                            for n in range(MESSAGES)])
    instance.start("pop3d")
    yield instance
    assert_clean_log(instance, "pop3d")


def logged_in(instance):
    conn = RawPop(instance.port("pop3"))
    assert conn.login(USER, PASSWORD).startswith(b"+OK"), "the mailbox is not free"
    return conn


def test_quit_on_a_full_disk_removes_nothing(pop3_small_disk, small_disk):
    files = mailbox_files(pop3_small_disk, USER)
    conn = logged_in(pop3_small_disk)
    for number in range(1, MESSAGES + 1):
        assert conn.command(f"DELE {number}").startswith(b"+OK")

    small_disk.fill()
    assert conn.command("QUIT") == \
        b"-ERR [SYS/TEMP] some deleted messages not removed\r\n"
    assert conn.rest() == b""
    assert mailbox_files(pop3_small_disk, USER) == files
    assert "deleted messages not removed" in pop3_small_disk.log("pop3d")

    small_disk.free()
    conn = logged_in(pop3_small_disk)
    assert conn.command("STAT").startswith(f"+OK {MESSAGES} ".encode())
    assert conn.command("DELE 1").startswith(b"+OK")
    assert conn.command("QUIT").startswith(b"+OK")
    assert len(mailbox_files(pop3_small_disk, USER)) == MESSAGES - 1
