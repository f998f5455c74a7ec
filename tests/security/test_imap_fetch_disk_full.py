"""FETCH BODY[] on a full disk is a NO that sets no \\Seen, then or later.

Reading a body without .PEEK sets \\Seen (RFC 9051 6.4.5). The fetch set it
first, renaming the file to its new flags, and when the index commit failed for
lack of space it left the file renamed: the client got `NO [SERVERBUG]` (with a
traceback in the log) and no message, yet the message showed \\Seen once space
returned. Now the bodies are read first, the flag is set in one step that is
undone when its commit fails, and nothing is sent unless it succeeded: the
answer is `NO [UNAVAILABLE]` alone.

The disk is really full, as in test_imap_store_disk_full.
"""

from checks import USER
from diskfull import imap_flags, mailbox_files
from rawimap import RawImap


def test_fetch_body_on_a_full_disk_is_no_and_sets_no_seen(imap_small_disk, small_disk):
    client = RawImap(imap_small_disk.port("imap"))
    client.login()
    client.command("SELECT INBOX", "select")
    files, flags = mailbox_files(imap_small_disk, USER), imap_flags(client)
    assert not any("\\Seen" in f for f in flags.values())

    small_disk.fill()
    tagged, untagged = client.command("FETCH 1:* BODY[]", "fetch")
    assert tagged.startswith(b"fetch NO [UNAVAILABLE] "), tagged
    assert untagged == []
    assert mailbox_files(imap_small_disk, USER) == files

    small_disk.free()
    assert client.command("NOOP", "noop") == (b"noop OK NOOP completed\r\n", [])
    assert imap_flags(client) == flags
    assert mailbox_files(imap_small_disk, USER) == files
    tagged, untagged = client.command("FETCH 1 BODY[]", "again")
    assert tagged.startswith(b"again OK"), tagged
    assert b"\\Seen" in untagged[0] and b"body of message 0" in untagged[0]
    client.close()
