"""core.mailkeywords: each folder's keyword list in the index, added to in the
transaction of the change that first uses a keyword, never shrinking, bounded."""

import os

import pytest

from mailsuite.core import mailkeywords
from mailsuite.core.maildir import Message, Store
from mailsuite.core.mailkeywords import TooManyKeywords

MSG = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def test_keywords_are_kept_in_order_of_first_use_and_never_dropped(store):
    inbox = store.folder("INBOX")
    assert inbox.keywords() == []
    uid = store.deliver("1.Qa.host", MSG)
    inbox.store([uid], ["\\Seen", "Work"], "add")
    store.add([Message(MSG, frozenset({"$Label1", "Work"}))])
    assert inbox.keywords() == ["Work", "$Label1"]
    inbox.store([uid], ["Work"], "remove")
    inbox.expunge([uid])
    assert inbox.keywords() == ["Work", "$Label1"]


def test_each_folder_has_its_own_and_a_copy_brings_them(store):
    store.create_folder("Archive")
    uid = store.add([Message(MSG, frozenset({"Later"}))])[0]
    archive = store.folder("Archive")
    assert archive.keywords() == []
    store.folder("INBOX").copy([uid], archive)
    assert archive.keywords() == ["Later"]


def test_forwarded_from_a_file_name_is_a_keyword(store):
    # RFC 5550 5.9's $Forwarded: Maildir's letter P, as other tools write it.
    (store.root / "cur" / "1.Qb.host:2,PS").write_bytes(MSG)
    store.folder("INBOX").scan(force=True)
    assert store.folder("INBOX").keywords() == ["$Forwarded"]


def test_a_full_list_refuses_a_new_keyword_and_changes_nothing(store, monkeypatch):
    monkeypatch.setattr(mailkeywords, "MAX_KEYWORDS", 2)
    inbox = store.folder("INBOX")
    uid = store.deliver("1.Qa.host", MSG)
    inbox.store([uid], ["One", "Two"], "add")
    with pytest.raises(TooManyKeywords):
        inbox.store([uid], ["\\Seen", "Three"], "add")
    assert inbox.record(uid).flags == {"One", "Two"}
    assert inbox.keywords() == ["One", "Two"]
    assert not any(name.endswith("S") for sub in ("new", "cur")
                   for name in os.listdir(store.root / sub))
    # The keywords it knows stay usable.
    assert inbox.store([uid], ["Two"], "remove")[uid].flags == {"One"}
