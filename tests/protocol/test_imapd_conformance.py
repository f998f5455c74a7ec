"""Protocol details that conformance testers and synchronizers (imaptest, mbsync)
hold imapd to, on real sockets with raw dialogs."""

import re

import pytest

from mailsuite.core import maildir
from test_imapd import PASSWORD, USER, Raw, set_config

MESSAGE = b"From: <a@example.org>\r\nSubject: one of many\r\n\r\nText.\r\n"


@pytest.fixture
def inst(instance):
    set_config(instance, plaintext_loopback=True)
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    assert "Traceback" not in instance.log("imapd")


def raw(inst):
    r = Raw(inst.port("imap"))
    r.login()
    return r


def test_login_capability_code_comes_whole(inst):
    # RFC 9051 7.1: mbsync reads the capabilities from LOGIN's [CAPABILITY ...]
    # and gives up on a code without its "]".
    r = Raw(inst.port("imap"))
    tagged, _ = r.command(f"LOGIN {USER} {PASSWORD}", "login")
    found = re.match(rb"login OK \[CAPABILITY ([^]]*)\] \S", tagged)
    assert found, tagged
    _, untagged = r.command("CAPABILITY", "c")
    assert found.group(1).split() == untagged[0].split()[2:]


def test_copyuid_of_many_scattered_messages_comes_whole(inst):
    # RFC 4315 3: COPYUID names every source and destination UID; every second
    # message makes a set far longer than a status text.
    with maildir.Store(inst.maildir(USER)) as store:
        store.create_folder("Copies")
        uids = [store.deliver(maildir.unique_base(), MESSAGE) for _ in range(120)]
    r = raw(inst)
    assert r.command("SELECT INBOX", "s")[0].startswith(b"s OK")
    picked = ",".join(str(uid) for uid in uids[::2])
    tagged, _ = r.command(f"UID COPY {picked} Copies", "c")
    found = re.match(rb"c OK \[COPYUID \d+ (\S+) (\S+)\] \S", tagged)
    assert found, tagged
    assert expand(found.group(1)) == uids[::2]
    assert len(expand(found.group(2))) == len(uids[::2])


def expand(sequence_set):
    """The UIDs of an RFC 9051 9 sequence-set of numbers: b"1:3,7" -> [1, 2, 3, 7]."""
    numbers = []
    for part in sequence_set.decode().split(","):
        low, _, high = part.partition(":")
        numbers += range(int(low), int(high or low) + 1)
    return numbers


def test_name_not_valid_modified_utf7_names_no_mailbox(inst):
    # RFC 3501 5.1.3: "&'+,-" is no valid shift sequence, yet the command is
    # well formed (imaptest's atoms group): SELECT is NO, LIST and LSUB list
    # nothing, and none of them is BAD.
    r = raw(inst)
    name = "!#$&'+,-.0123456789:;<=>?@^_`|[}"
    tagged, _ = r.command(f"SELECT {name}", "s")
    assert tagged.startswith(b"s NO "), tagged
    for verb in ("LIST", "LSUB"):
        tagged, untagged = r.command(f'{verb} "" {name}%*', "l")
        assert tagged.startswith(b"l OK "), tagged
        assert untagged == []
