"""The hand-off to a real rspamd (tests/defences/rspamdpeer.py): GTUBE is refused
at the end of the data (550 5.7.1, nothing queued), a message rspamd would mark
goes to the Junk folder, a clean one to the INBOX, each with rspamd's verdict in
X-Spam fields; with rspamd gone, mail is still taken. Most of this module's time
is rspamd's own start (it compiles Debian's rules)."""

import smtplib

import pytest

from defencemx import start_mx
from harness import wait_for
from mailsuite.core.maildir import Store
from mailsuite.core.spool import Spool
from rspamdpeer import RspamdPeer
from security.checks import USER, assert_clean_log

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def message(subject, body, head=""):
    return (f"From: Ann <ann@sender.test>\r\nTo: <{USER}>\r\nSubject: {subject}\r\n"
            f"{head}"
            f"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{abs(hash(subject))}@sender.test>\r\n\r\n{body}\r\n").encode()


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    with RspamdPeer(tmp_path_factory.mktemp("rspamd")) as peer:
        yield peer


@pytest.fixture(scope="module")
def mx(tmp_path_factory, peer):
    inst = start_mx(tmp_path_factory.mktemp("mx"), f"""
[rspamd]
enabled = true
address = "{peer.address}"
""")
    yield inst
    inst.close()
    assert_clean_log(inst, "smtpd")


def send(inst, data):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=60) as client:
        client.ehlo("client.test")
        client.mail("ann@sender.test")
        client.rcpt(USER)
        return client.data(data)


def delivered(inst, folder, subject):
    """The header section of the message with `subject` in `folder`, or None."""
    with Store(inst.maildir(USER)) as store:
        if folder not in store.folders():
            return None
        root = store.path(folder)
    for sub in ("new", "cur"):
        for path in (root / sub).iterdir() if (root / sub).is_dir() else ():
            head = path.read_bytes().partition(b"\r\n\r\n")[0].decode()
            if f"Subject: {subject}" in head:
                return head
    return None


def test_gtube_is_refused_and_not_queued(mx):
    code, text = send(mx, message("gtube", GTUBE))
    assert (code, text) == (550, b"5.7.1 message refused as spam")
    with Spool(mx.state) as spool:
        assert spool.count() == 0
    assert "rspamd: reject" in mx.log("smtpd")


def test_a_clean_message_goes_to_the_inbox_with_the_verdict(mx):
    assert send(mx, message("lunch", "See you at noon."))[0] == 250
    head = wait_for(lambda: delivered(mx, "INBOX", "lunch"))
    assert "X-Spam: No\r\nX-Spam-Action: no action\r\nX-Spam-Score: " in head


def test_a_marked_message_goes_to_junk(mx):
    # The client's own verdict fields are dropped: only rspamd's reach the user.
    forged = "X-Spam: No\r\nX-Spam-Action: no action\r\n"
    assert send(mx, message("junk me", "Buy now.", forged))[0] == 250
    head = wait_for(lambda: delivered(mx, "Junk", "junk me"))
    assert "X-Spam: Yes\r\nX-Spam-Action: add header\r\n" in head
    assert head.count("X-Spam:") == 1 and head.count("X-Spam-Action:") == 1
    assert delivered(mx, "INBOX", "junk me") is None


def test_mail_is_taken_when_rspamd_is_gone(tmp_path):
    gone = start_mx(tmp_path / "gone", """
[rspamd]
enabled = true
address = "127.0.0.1:9"
""", programs=["smtpd"])
    try:
        assert send(gone, message("unchecked", "hello"))[0] == 250
        assert "rspamd unavailable, message taken unchecked" in gone.log("smtpd")
    finally:
        gone.close()
    assert_clean_log(gone, "smtpd")
