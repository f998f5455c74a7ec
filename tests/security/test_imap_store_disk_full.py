"""STORE on a full disk is a NO that changes nothing, then or later.

The store renamed a message's file to mirror its new flags inside the index's
write transaction, and when the commit failed for lack of space it left the file
renamed: `STORE +FLAGS (\\Deleted)` was answered `NO [SERVERBUG]` (with a
traceback in the log), and the flag the client had been refused appeared once
space returned and the file names were read again. Now the renames are undone
when the commit fails, and the answer is `NO [UNAVAILABLE]`.

The disk is really full (a tmpfs of the test's own, filled up), and the messages
were indexed in one commit into a new index, which leaves its file next to no
free page: the STORE's commit needs pages that LMDB must write past the end of
the file, which the full disk refuses.
"""

from checks import USER
from diskfull import imap_flags, mailbox_files
from rawimap import RawImap


def test_store_on_a_full_disk_is_no_and_changes_nothing(imap_small_disk, small_disk):
    client = RawImap(imap_small_disk.port("imap"))
    client.login()
    client.command("SELECT INBOX", "select")
    files, flags = mailbox_files(imap_small_disk, USER), imap_flags(client)

    small_disk.fill()
    tagged, _ = client.command("STORE 1:* +FLAGS (\\Deleted)", "store")
    assert tagged.startswith(b"store NO [UNAVAILABLE] "), tagged
    assert mailbox_files(imap_small_disk, USER) == files

    small_disk.free()
    assert client.command("NOOP", "noop") == (b"noop OK NOOP completed\r\n", [])
    assert imap_flags(client) == flags
    assert mailbox_files(imap_small_disk, USER) == files
    tagged, _ = client.command("STORE 1 +FLAGS (\\Deleted)", "again")
    assert tagged.startswith(b"again OK"), tagged
    client.close()
