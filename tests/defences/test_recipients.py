"""Recipients at RCPT: plus-addressing (into the tag's folder when the mailbox has
one), aliases and catch-alls, and unknown users refused with 550 5.1.1 after the
same lookups as known ones."""

import smtplib

import pytest

from harness import wait_for
from mailsuite import smtpd
from mailsuite.delivery import folder_for
from mailsuite.core.accounts import Accounts
from mailsuite.core.maildir import Store
from mailsuite.core.recipients import look_up, split_tag
from security.checks import USER

MESSAGE = b"From: <a@sender.test>\r\nSubject: plus\r\n\r\nhello\r\n"


@pytest.mark.parametrize("address, expected", [
    ("demo+news@example.test", ("demo@example.test", "news")),
    ("demo-news@example.test", ("demo@example.test", "news")),
    ("demo+a+b@example.test", ("demo@example.test", "a+b")),
    ("demo@example.test", ("demo@example.test", None)),
    ("+news@example.test", ("+news@example.test", None)),
    ("demo+@example.test", ("demo+@example.test", None)),
])
def test_split_tag(address, expected):
    assert split_tag(address, "+-") == expected


def test_a_tag_picks_an_existing_folder_in_any_case():
    folders = ["Archive", "Lists", "Lists/Debian"]
    assert folder_for("lists", folders) == "Lists"
    assert folder_for("LISTS/debian", folders) == "Lists/Debian"
    assert folder_for("nosuch", folders) == "INBOX"
    assert folder_for("../Archive", folders) == "INBOX"


def test_no_delimiter_no_tag():
    assert split_tag("demo+news@example.test", "") == ("demo+news@example.test", None)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    with Accounts(tmp_path_factory.mktemp("state")) as accounts:
        accounts.add_domain("example.test")
        accounts.add_domain("open.test")
        accounts.add_user("demo@example.test", "pw")
        accounts.add_user("a+b@example.test", "pw")
        accounts.add_alias("team@example.test", ["demo@example.test"])
        accounts.add_user("keeper@open.test", "pw")
        accounts.add_alias("@open.test", ["keeper@open.test"])
        accounts.add_user("ann@open.test", "pw")
        yield accounts


@pytest.mark.parametrize("address, targets, tag", [
    ("demo+news@example.test", ["demo@example.test"], "news"),
    ("Demo+News@Example.test", ["demo@example.test"], "News"),
    ("team+x@example.test", ["demo@example.test"], "x"),
    ("a+b@example.test", ["a+b@example.test"], None),      # the user named so wins
    ("nobody+x@example.test", [], None),
    # A catch-all takes what no user takes, but the user wins over it, tag or not.
    ("ann+x@open.test", ["ann@open.test"], "x"),
    ("nobody+x@open.test", ["keeper@open.test"], None),
])
def test_look_up(accounts, address, targets, tag):
    assert look_up(accounts, address, "+") == (targets, tag)


class CountingTxn:
    def __init__(self, txn, reads):
        self.txn, self.reads = txn, reads

    def __enter__(self):
        self.txn.__enter__()
        return self

    def __exit__(self, *exc):
        return self.txn.__exit__(*exc)

    def get(self, key, db=None):
        self.reads.append(db)
        return self.txn.get(key, db=db)


class CountingEnv:
    def __init__(self, env):
        self.env, self.reads = env, []

    def begin(self, **kwargs):
        return CountingTxn(self.env.begin(**kwargs), self.reads)


@pytest.mark.parametrize("unknown", ["nobody@example.test", "nobody+x@example.test"])
def test_unknown_and_known_users_cost_the_same_reads(accounts, unknown):
    """What smtpd does at RCPT reads the same records, in the same tables, for
    a user, for an alias, and for nobody."""
    def reads(address):
        env, accounts.env = accounts.env, CountingEnv(accounts.env)
        try:
            smtpd.look_up(accounts, address, "+")
            return accounts.env.reads
        finally:
            accounts.env = env
    known = reads("demo@example.test")
    assert reads(unknown) == known
    assert reads("demo+x@example.test") == known


def send(inst, recipients):
    """The RCPT replies for `recipients`, and DATA's when one was accepted."""
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        replies = [client.rcpt(rcpt) for rcpt in recipients]
        if any(code == 250 for code, _ in replies):
            replies.append(client.data(MESSAGE))
        return replies


def folder_files(inst, folder):
    with Store(inst.maildir(USER)) as store:
        return len(store.folder(folder).uids())


def test_plus_address_goes_into_the_tags_folder(mx):
    with Store(mx.maildir(USER)) as store:
        store.create_folder("Lists")
    before = folder_files(mx, "INBOX")
    replies = send(mx, ["demo+lists@example.test"])
    assert [code for code, _ in replies] == [250, 250]
    assert wait_for(lambda: folder_files(mx, "Lists") == 1)
    assert folder_files(mx, "INBOX") == before


def test_plus_address_without_its_folder_goes_to_the_inbox(mx):
    before = folder_files(mx, "INBOX")
    replies = send(mx, ["demo+nosuchfolder@example.test"])
    assert [code for code, _ in replies] == [250, 250]
    assert wait_for(lambda: folder_files(mx, "INBOX") == before + 1)
    assert "no such user" not in mx.log("deliverd")


def test_unknown_user_refused_and_the_session_goes_on(mx):
    replies = send(mx, ["nobody@example.test", "nobody+x@example.test", USER])
    assert replies[0][0] == 550 and replies[0][1].startswith(b"5.1.1")
    assert replies[1][0] == 550 and replies[1][1].startswith(b"5.1.1")
    assert replies[2][0] == 250
    assert replies[3][0] == 250


def test_guessing_users_ends_the_session(mx):
    """Each unknown user is a client error: a directory harvest is cut off after
    smtpd.max_errors (10) of them."""
    with smtplib.SMTP("127.0.0.1", mx.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        codes = [client.rcpt(f"guess{n}@example.test")[0] for n in range(9)]
        assert codes == [550] * 9
        assert client.rcpt("guess9@example.test")[0] == 550
        # The 421 came right after that reply, and the server closed.
        assert client.noop()[0] == 421
    assert wait_for(lambda: "too many errors after RCPT" in mx.log("smtpd"))
