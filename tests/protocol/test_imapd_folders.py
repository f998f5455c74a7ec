"""imapd's folder verbs on real sockets: CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB, STATUS and
NAMESPACE; imaplib where it can say it, raw dialogs where it cannot; and what
other sessions see of a folder deleted or renamed under them."""

import imaplib
import os
import re

import pytest

from harness import connect, wait_for
from mailsuite.core import maildir, notify

USER = "demo@example.test"
PASSWORD = "secret-password"
MESSAGE = (b"From: Alice <alice@example.org>\r\nSubject: hello\r\n\r\n"
           b"Body line one.\r\n")
SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
           "Junk": "\\Junk", "Archive": "\\Archive"}


@pytest.fixture
def inst(instance):
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    assert "Traceback" not in instance.log("imapd")


def imaps(instance):
    client = imaplib.IMAP4_SSL("127.0.0.1", instance.port("imaps"),
                               ssl_context=instance.client_tls_context(), timeout=10)
    client.login(USER, PASSWORD)
    return client


class Raw:
    """Commands as sent and responses as received, over imaps, logged in."""

    def __init__(self, instance):
        sock = connect(instance.port("imaps"))
        self.sock = instance.client_tls_context().wrap_socket(
            sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.file.readline()
        assert self.command(f"LOGIN {USER} {PASSWORD}")[0].startswith("t1 OK")

    def command(self, text):
        """(tagged line, [untagged lines]) as text, line ends removed."""
        self.sock.sendall(b"t1 " + (text.encode() if isinstance(text, str) else text)
                          + b"\r\n")
        untagged = []
        while True:
            line = self.file.readline()
            assert line, f"connection closed after {untagged}"
            line = line.decode().rstrip("\r\n")
            if line.startswith("t1 "):
                return line, untagged
            untagged.append(line)

    def ok(self, text):
        tagged, untagged = self.command(text)
        assert tagged.startswith("t1 OK"), (text, tagged)
        return untagged

    def ended(self, text):
        """The lines answering `text` up to the end of the connection."""
        self.sock.sendall(b"t1 " + text.encode() + b"\r\n")
        return [line.decode().rstrip("\r\n") for line in self.file]

    def close(self):
        self.sock.close()


LIST_LINE = re.compile(r'\* (?:LIST|LSUB) \(([^)]*)\) "/" "((?:[^"\\]|\\.)*)"(.*)')


def listed(lines):
    """{name: (attributes, rest)} of LIST or LSUB responses."""
    found = {}
    for line in lines:
        match = LIST_LINE.fullmatch(line)
        if match:
            found[match.group(2)] = (match.group(1).split(), match.group(3).strip())
    return found


def deliver(instance, folder="INBOX", count=1, flags=()):
    with maildir.Store(instance.maildir(USER)) as store:
        return [store.deliver(maildir.unique_base(), MESSAGE, folder=folder,
                              flags=flags) for _ in range(count)]


def uidvalidity(raw, name):
    (line,) = raw.ok(f'STATUS "{name}" (UIDVALIDITY)')
    return int(re.search(r"UIDVALIDITY (\d+)", line).group(1))


# set-up


def test_capabilities_and_namespace(inst):
    client = imaps(inst)
    caps = client.capabilities
    for cap in ("NAMESPACE", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "CREATE-SPECIAL-USE", "STATUS=SIZE", "CHILDREN"):
        assert cap in caps
    assert client.namespace() == ("OK", [b'(("" "/")) NIL NIL'])


def test_special_folders_are_made_at_the_first_login(instance):
    instance.add_user(USER, PASSWORD)
    with maildir.Store(instance.maildir(USER)) as store:
        store.create_folder("Sent")                # one the user had already
    instance.start("imapd")
    raw = Raw(instance)
    found = listed(raw.ok('LIST "" "%"'))
    assert list(found) == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    for name, use in SPECIAL.items():
        assert use in found[name][0]
    assert list(listed(raw.ok('LSUB "" "*"'))) == list(found)
    raw.ok("DELETE Junk")
    raw.close()
    # The user's choice stands: no new Junk at the next login.
    assert "Junk" not in listed(Raw(instance).ok('LIST "" "*"'))
    assert "Traceback" not in instance.log("imapd")


# CREATE, DELETE, RENAME


def test_create_and_list_a_hierarchy(inst):
    raw = Raw(inst)
    raw.ok("CREATE Work/")                         # RFC 9051 6.3.4: a declaration
    raw.ok("CREATE Projects/2024/May")
    found = listed(raw.ok('LIST "" "*"'))
    assert found["Work"][0] == ["\\HasNoChildren"]
    assert found["Projects/2024/May"][0] == ["\\HasNoChildren"]
    assert "Projects" not in found                 # its child answers for it
    top = listed(raw.ok('LIST "" "%"'))
    assert top["Projects"][0] == ["\\Noselect", "\\HasChildren"]
    assert list(listed(raw.ok('LIST "Projects/" "%"'))) == ["Projects/2024"]
    assert list(listed(raw.ok('LIST "" "inbox"'))) == ["INBOX"]
    assert raw.ok('LIST "" ""') == ['* LIST (\\Noselect) "/" ""']
    for command, code in (("CREATE Work", "ALREADYEXISTS"),
                          ("CREATE inbox", "ALREADYEXISTS"),
                          ('CREATE "a*b"', "CANNOT"), ('CREATE "a//b"', "CANNOT")):
        assert raw.command(command)[0].startswith(f"t1 NO [{code}]"), command


def test_create_with_a_special_use(inst):
    raw = Raw(inst)
    raw.ok("CREATE Outbox (USE (\\Sent \\Drafts))")
    found = listed(raw.ok('LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)'))
    assert found["Outbox"][0] == ["\\HasNoChildren", "\\Drafts", "\\Sent"]
    assert "INBOX" not in found
    for use in ("\\All", "\\Flagged", "\\Important"):
        assert raw.command(f"CREATE X (USE ({use}))")[0].startswith("t1 NO [USEATTR]")
    assert raw.command("CREATE X (FOO (\\Sent))")[0].startswith("t1 BAD")
    assert raw.command("CREATE X (USE (Sent))")[0].startswith("t1 BAD")
    assert "X" not in listed(raw.ok('LIST "" "*"'))
    raw.ok("RENAME Outbox Mail/Out")               # the use goes with the folder
    assert "\\Sent" in listed(raw.ok('LIST "" "Mail/Out"'))["Mail/Out"][0]


def test_delete(inst):
    raw = Raw(inst)
    raw.ok("CREATE Work/Old")
    raw.ok("CREATE Work")
    deliver(inst, "Work", 2)
    before = uidvalidity(raw, "Work")
    raw.ok("DELETE Work")
    assert not (inst.maildir(USER) / ".Work").exists()
    top = listed(raw.ok('LIST "" "%"'))
    assert top["Work"][0] == ["\\Noselect", "\\HasChildren"]     # RFC 9051 6.3.5
    assert "Work/Old" in listed(raw.ok('LIST "" "*"'))
    assert raw.command("DELETE Work")[0].startswith("t1 NO [NONEXISTENT]")
    assert raw.command("DELETE INBOX")[0].startswith("t1 NO")
    raw.ok("CREATE Work")
    assert uidvalidity(raw, "Work") != before
    assert raw.ok("STATUS Work (MESSAGES UIDNEXT)") == [
        '* STATUS "Work" (MESSAGES 0 UIDNEXT 1)']


def test_rename_keeps_uids_and_takes_the_children(inst):
    raw = Raw(inst)
    raw.ok("CREATE Work/Old")
    raw.ok("CREATE Work")
    uids = deliver(inst, "Work/Old", 2)
    before = uidvalidity(raw, "Work/Old")
    raw.ok("RENAME Work Play/Now")
    assert list(listed(raw.ok('LIST "" "Play/*"'))) == ["Play/Now", "Play/Now/Old"]
    assert "Work" not in listed(raw.ok('LIST "" "*"'))
    assert uidvalidity(raw, "Play/Now/Old") == before
    raw.ok('SELECT "Play/Now/Old"')
    fetched = raw.ok("UID FETCH 1:* (UID)")
    assert [int(re.search(r"UID (\d+)", line).group(1)) for line in fetched] == uids
    for command, code in (("RENAME Missing X", "NONEXISTENT"),
                          ("RENAME Play Play/Now/Deeper", "CANNOT"),
                          ("RENAME Play INBOX", "ALREADYEXISTS"),
                          ("RENAME Play/Now Sent", "ALREADYEXISTS")):
        assert raw.command(command)[0].startswith(f"t1 NO [{code}]"), command


def test_rename_inbox_moves_its_messages_and_leaves_it_empty(inst):
    uids = deliver(inst, count=3)
    raw = Raw(inst)
    raw.ok("CREATE INBOX/Kept")
    before = uidvalidity(raw, "INBOX")
    raw.ok("RENAME INBOX Old")
    assert raw.ok("STATUS INBOX (MESSAGES)") == ['* STATUS "INBOX" (MESSAGES 0)']
    assert uidvalidity(raw, "INBOX") != before
    assert uidvalidity(raw, "Old") == before       # the messages keep their UIDs
    raw.ok("SELECT Old")
    assert len(raw.ok("UID FETCH 1:* (UID)")) == len(uids)
    assert "INBOX/Kept" in listed(raw.ok('LIST "" "*"'))  # RFC 9051 6.3.6


# subscriptions


def test_subscribe_lsub_and_list_subscribed(inst):
    raw = Raw(inst)
    raw.ok("CREATE Lists/Debian")
    raw.ok("CREATE Lists/Python")
    raw.ok("SUBSCRIBE Lists/Debian")
    raw.ok("SUBSCRIBE Gone")                       # RFC 9051 6.3.7: need not exist
    raw.ok("SUBSCRIBE Lists/Debian")               # already: still OK
    lsub = listed(raw.ok('LSUB "" "Lists/%"'))
    assert lsub == {"Lists/Debian": ([], "")}
    lsub = listed(raw.ok('LSUB "" "%"'))
    assert lsub["Lists"][0] == ["\\Noselect"] and lsub["Gone"][0] == []
    found = listed(raw.ok('LIST (SUBSCRIBED) "" "*"'))
    assert found["Gone"][0] == ["\\Subscribed", "\\NonExistent", "\\HasNoChildren"]
    assert "Lists/Python" not in found
    found = listed(raw.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'))
    assert found["Lists"] == (["\\NonExistent", "\\HasChildren"],
                              '("CHILDINFO" ("SUBSCRIBED"))')
    found = listed(raw.ok('LIST "" "Lists/*" RETURN (SUBSCRIBED)'))
    assert found["Lists/Debian"][0][0] == "\\Subscribed"
    assert found["Lists/Python"][0] == ["\\HasNoChildren"]
    raw.ok("UNSUBSCRIBE Lists/Debian")
    raw.ok("UNSUBSCRIBE Lists/Debian")             # RFC 9051 6.3.8: OK anyway
    assert listed(raw.ok('LSUB "" "Lists/*"')) == {}
    # Dovecot's file: a Maildir moved either way keeps its subscriptions.
    data = (inst.maildir(USER) / "subscriptions").read_bytes()
    assert data.startswith(b"V\t2\n\nINBOX\n") and b"\nGone\n" in data


# LIST-EXTENDED and LIST-STATUS


def test_list_extended_as_imaptest_asks(inst):
    raw = Raw(inst)
    for name in ("t/test1", "t/test2/", "t/test2/test1", "t/test3", "t/test4/test5",
                 "t/test4/test52", "t/test6", "t/test7/test7", "t/test8/test8",
                 "t/test8/test9"):
        raw.ok(f"CREATE {name}")
    for name in ("t/test1", "t/test2/test1", "t/test6", "t/test7/test7",
                 "t/test8/test8", "t/test8/test9"):
        raw.ok(f"SUBSCRIBE {name}")
    raw.ok("DELETE t/test6")
    assert list(listed(raw.ok('LIST "" (t/*2 t/test3)'))) == [
        "t/test2", "t/test3", "t/test4/test52"]
    for bad in ('LIST (imaptest) "" ""', 'LIST (recursivematch) "" ""',
                'LIST (recursivematch remote) "" ""', 'LIST "" "" return (imaptest)'):
        assert raw.command(bad)[0].startswith("t1 BAD"), bad
    raw.ok('LIST (remote) "" %')
    found = listed(raw.ok('LIST (subscribed) "" t/*'))
    assert found["t/test6"][0][:2] == ["\\Subscribed", "\\NonExistent"]
    found = listed(raw.ok('LIST (subscribed recursivematch) "" t/test2% '
                          'return (children)'))
    assert found == {"t/test2": (["\\HasChildren"], '("CHILDINFO" ("SUBSCRIBED"))')}
    assert list(listed(raw.ok('LIST (subscribed recursivematch) "" *test7'))) == [
        "t/test7/test7"]
    assert list(listed(raw.ok('LIST (subscribed recursivematch) "" *test8'))) == [
        "t/test8", "t/test8/test8"]
    assert list(listed(raw.ok('LIST "" (t/test7 t/test7/test7)'))) == [
        "t/test7/test7"]


def test_list_status(inst):
    raw = Raw(inst)
    raw.ok("CREATE Box/Inner")
    deliver(inst, "Box/Inner", 2, flags=["\\Seen"])
    deliver(inst, count=1)
    lines = raw.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    at = lines.index('* LIST (\\HasNoChildren) "/" "Box/Inner"')
    assert lines[at + 1] == '* STATUS "Box/Inner" (MESSAGES 2 UNSEEN 0)'
    assert lines[1] == '* STATUS "INBOX" (MESSAGES 1 UNSEEN 1)'
    # No STATUS for what cannot be selected (RFC 5819 1).
    lines = raw.ok('LIST "" "%" RETURN (STATUS (MESSAGES))')
    at = lines.index('* LIST (\\NonExistent \\HasChildren) "/" "Box"')
    assert not lines[at + 1].startswith('* STATUS "Box"')


# STATUS


def test_status(inst):
    deliver(inst, count=2)
    deliver(inst, flags=["\\Seen", "\\Deleted"])
    client = imaps(inst)
    typ, data = client.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN "
                              "DELETED SIZE HIGHESTMODSEQ)")
    assert typ == "OK"
    fields = dict(re.findall(rb"([A-Z]+) (\d+)", data[0]))
    assert (fields[b"MESSAGES"], fields[b"RECENT"], fields[b"UIDNEXT"],
            fields[b"UNSEEN"], fields[b"DELETED"]) == (b"3", b"3", b"4", b"2", b"1")
    client.select("INBOX", readonly=True)
    _, sizes = client.fetch("1:*", "(RFC822.SIZE)")
    total = sum(int(re.search(rb"RFC822.SIZE (\d+)", s).group(1)) for s in sizes)
    assert int(fields[b"SIZE"]) == total           # RFC 8438 3
    assert int(fields[b"HIGHESTMODSEQ"]) > 1
    typ, data = client.status("Nowhere", "(MESSAGES)")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    for items in ("()", "(MESSAGES FOO)", "MESSAGES"):
        with pytest.raises(imaplib.IMAP4.error):
            client.status("INBOX", items)


def test_status_follows_deliveries_and_other_tools(inst):
    raw = Raw(inst)
    raw.ok("CREATE Lists")
    deliver(inst, "Lists", 2)
    assert raw.ok("STATUS Lists (MESSAGES)") == ['* STATUS "Lists" (MESSAGES 2)']
    # A file dropped by another Maildir tool is indexed in the background.
    (inst.maildir(USER) / ".Lists" / "new" / "1.other.tool").write_bytes(MESSAGE)

    def counted():
        return raw.ok("STATUS Lists (MESSAGES)") == ['* STATUS "Lists" (MESSAGES 3)']
    assert wait_for(counted)


# names


def test_modified_utf7_names_and_dots(inst):
    raw = Raw(inst)
    raw.ok('CREATE "&ZeVnLIqe-/v1.2"')              # 日本語/v1.2
    root = inst.maildir(USER)
    assert (root / ".日本語.v1\\2e2" / "cur").is_dir()
    assert '"&ZeVnLIqe-/v1.2"' in " ".join(raw.ok('LIST "" "*"'))
    raw.ok('SELECT "&ZeVnLIqe-/v1.2"')
    # Not valid modified UTF-7: refused (NO, as Dovecot answers), nothing made.
    assert raw.command('CREATE "&Jjo"')[0].startswith("t1 NO")
    # A folder another program made, in Dovecot's escaping, is one of ours.
    for sub in ("cur", "new", "tmp"):
        (root / ".a\\2eb" / sub).mkdir(parents=True)
    assert "a.b" in listed(raw.ok('LIST "" "*"'))


# other sessions


def test_a_selected_folder_deleted_elsewhere_ends_the_session(inst):
    one, two = Raw(inst), Raw(inst)
    one.ok("CREATE Work")
    deliver(inst, "Work")
    one.ok("SELECT Work")
    two.ok("DELETE Work")
    assert one.ended("NOOP") == ["* BYE the selected mailbox was removed"]


def test_fetch_in_a_folder_deleted_elsewhere_is_bye_not_a_bug(inst):
    one, two = Raw(inst), Raw(inst)
    one.ok("CREATE Work")
    deliver(inst, "Work")
    one.ok("SELECT Work")
    two.ok("DELETE Work")
    assert one.ended("FETCH 1 (FLAGS)") == ["* BYE the selected mailbox was removed"]


def test_deleting_the_own_selected_folder_deselects_it(inst):
    raw = Raw(inst)
    raw.ok("CREATE Work")
    raw.ok("SELECT Work")
    raw.ok("DELETE Work")
    assert raw.command("FETCH 1 (FLAGS)")[0].startswith("t1 BAD")   # not selected


def test_a_selected_folder_renamed_elsewhere_is_followed(inst):
    one, two = Raw(inst), Raw(inst)
    one.ok("CREATE Work")
    deliver(inst, "Work")
    one.ok("SELECT Work")
    two.ok("RENAME Work Play")
    one.ok("NOOP")
    deliver(inst, "Play")
    notify.send(inst.runtime / "imapd.notify", USER.encode())
    assert "* 2 EXISTS" in one.ok("NOOP")
    assert len(one.ok("FETCH 1:* (FLAGS)")) == 2


def test_inbox_renamed_elsewhere_ends_sessions_that_had_it_selected(inst):
    deliver(inst)
    one, two = Raw(inst), Raw(inst)
    one.ok("SELECT INBOX")
    two.ok("SELECT INBOX")
    two.ok("RENAME INBOX Old")
    assert two.command("FETCH 1 (FLAGS)")[0].startswith("t1 BAD")  # left INBOX
    assert one.ended("NOOP") == ["* BYE mailbox UIDVALIDITY changed"]
    assert os.listdir(inst.maildir(USER) / "new") == []
