"""mailsuite.imapd.catenate: CATENATE's parts (RFC 4469 5) and the IMAP URLs
they name (RFC 5092), resolved against a real store."""

import pytest

from mailsuite.core.maildir import Store
from mailsuite.imapd import catenate
from mailsuite.imapd.catenate import BadUrl, Text, Url, parse, parse_url, resolve
from mailsuite.imapd.errors import Bad
from mailsuite.imapd.parser import Atom, Literal, String

USER = "demo@example.test"
MSG = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        s.create_folder("Sent Items")
        yield s


def test_parts_in_order():
    parts = parse([Atom("TEXT"), Literal(b"a"), Atom("url"), String(b"/INBOX/;UID=1"),
                   Atom("Text"), Literal(b"b")], (Literal,)).parts
    assert parts == [Text(b"a"), Url("/INBOX/;UID=1"), Text(b"b")]


@pytest.mark.parametrize("tokens", [
    [], [Atom("TEXT")], [Atom("TEXT"), String(b"quoted, not a literal")],
    [Atom("URL"), [Atom("x")]], [Atom("BODY"), Literal(b"a")], Atom("TEXT")])
def test_malformed_parts_are_bad(tokens):
    with pytest.raises(Bad):
        parse(tokens, (Literal,))


def test_url_forms():
    target = parse_url("/Sent%20Items;UIDVALIDITY=7/;UID=3/;SECTION=1.MIME"
                       "/;PARTIAL=10.20", USER)
    assert (target.mailbox, target.uidvalidity, target.uid) == ("Sent Items", 7, 3)
    assert target.section.part == (1,) and target.section.text == "MIME"
    assert target.partial == (10, 20)
    whole = parse_url("imap://demo%40example.test@mail.example.test/INBOX/;uid=3", USER)
    assert (whole.mailbox, whole.uidvalidity, whole.section.text) == ("INBOX", 0, "")


@pytest.mark.parametrize("url", [
    "/INBOX", "/INBOX/;UID=0", "INBOX/;UID=1", "/INBOX/;UID=1/;SECTION=NOPE",
    "/INBOX/;UID=1/;URLAUTH=anonymous:internal", "/INBOX/;UID=1 trailing",
    "imap://other@example.test@mail.example.test/INBOX/;UID=1",
    "imap://other@mail.example.test/INBOX/;UID=1", "/%ff/;UID=1"])
def test_urls_that_are_not_the_users_messages(url):
    with pytest.raises(BadUrl):
        parse_url(url, USER)


def test_resolve_sections_and_partial(store):
    uid = store.deliver("1.Qa.host", MSG)
    uidvalidity = store.folder("INBOX").state().uidvalidity
    assert resolve(store, USER, f"/INBOX/;UID={uid}") == MSG
    assert resolve(store, USER, f"/INBOX;UIDVALIDITY={uidvalidity}/;UID={uid}"
                                "/;SECTION=HEADER") == MSG[:MSG.index(b"body")]
    assert resolve(store, USER, f"/INBOX/;UID={uid}/;SECTION=text") == b"body\r\n"
    assert resolve(store, USER, f"/INBOX/;UID={uid}/;PARTIAL=6.6") == b"a@remo"
    assert resolve(store, USER, f"/INBOX/;UID={uid}/;PARTIAL=100000.1") == b""


@pytest.mark.parametrize("url", ["/INBOX;UIDVALIDITY=1/;UID={uid}", "/INBOX/;UID=99",
                                 "/Nowhere/;UID={uid}"])
def test_resolve_refuses_what_is_not_there(store, url):
    uid = store.deliver("1.Qa.host", MSG)
    with pytest.raises(BadUrl):
        resolve(store, USER, url.format(uid=uid))


def test_assemble_writes_a_file_and_leaves_none_behind_when_refused(store):
    uid = store.deliver("1.Qa.host", MSG)
    good = parse([Atom("URL"), String(f"/INBOX/;UID={uid}/;SECTION=HEADER".encode()),
                  Atom("TEXT"), Literal(b"new body\r\n")], (Literal,))
    incoming = good.assemble(store, USER, "Sent Items", 1000)
    assert incoming.tmp.read_bytes() == MSG[:MSG.index(b"body")] + b"new body\r\n"
    incoming.discard()
    for bad, most in ((good, 20), (parse([Atom("TEXT"), Literal(b"x"), Atom("URL"),
                                          String(b"/INBOX/;UID=99")], (Literal,)), 1000)):
        with pytest.raises((BadUrl, catenate.TooBig)):
            bad.assemble(store, USER, "Sent Items", most)
    assert list((store.root / ".Sent Items" / "tmp").iterdir()) == []


def test_badurl_code_is_one_bounded_line():
    answer = catenate.refused(BadUrl("/x]\r\n" + "y" * 1000))
    assert answer.code.startswith("BADURL /x") and "]" not in answer.code
    assert "\n" not in answer.code and len(answer.code) < 220
