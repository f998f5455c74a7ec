"""delivery.by_folder: a mailbox's share of a pass by the folder each message's
record names (smtpd's DMARC quarantine), the folder made when missing."""

from types import SimpleNamespace

from mailsuite.core.maildir import Store
from mailsuite.delivery import by_folder


def batch(**infos):
    return SimpleNamespace(entries={qid: SimpleNamespace(info=info)
                                    for qid, info in infos.items()})


def test_messages_go_to_the_folder_their_record_names(tmp_path):
    with Store(tmp_path / "box") as store:
        found = by_folder(store, batch(a={}, b={"folder": "Junk"}, c={"folder": "Junk"}),
                          [("a", "1.a", None), ("b", "1.b", None), ("c", "1.c", None)])
        assert found == {"INBOX": [("a", "1.a")], "Junk": [("b", "1.b"), ("c", "1.c")]}
        assert "Junk" in store.folders()        # made, as it was missing


def test_a_folder_that_cannot_be_made_leaves_the_message_in_the_inbox(tmp_path, caplog):
    with Store(tmp_path / "box") as store:
        found = by_folder(store, batch(a={"folder": "bad//name"}), [("a", "1.a", None)])
        assert found == {"INBOX": [("a", "1.a")]}
    assert "cannot be made" in caplog.text
