"""mailsuite.imapd.searchkeys, searchrun and search: the SEARCH grammar, its
evaluation over a real store (without a server), and the answers' formats."""

import asyncio
import sys
from types import SimpleNamespace

import pytest

from mailsuite.core.maildir import Store
from mailsuite.core.mailview import View
from mailsuite.imapd import search, searchkeys, searchrun
from mailsuite.imapd.errors import Bad, No
from mailsuite.imapd.parser import parse_command, sequence_set, tokenize
from mailsuite.imapd.searchkeys import (And, Column, Date, Flag, Keyword, Not, Or,
                                        Recent, Saved, Sequence, Size, Text,
                                        parse_program)

DAY = 86400
JAN_1_2024 = 1_704_067_200


def parse(text):
    return parse_program(tokenize(text))


# the grammar


def test_keys_become_records():
    assert parse(b"SEEN") == Flag(1, True)
    assert parse(b"unflagged") == Flag(4, False)
    assert parse(b"KEYWORD $Junk") == Keyword("$Junk", True)
    assert parse(b"NEW") == And((Recent(True), Flag(1, False)))
    assert parse(b"OLD") == Recent(False)
    assert parse(b"1:3,*") == Sequence([(1, 3), (None, None)], False)
    assert parse(b"UID 5:*") == Sequence([(5, None)], True)
    assert parse(b"$") == Saved()
    assert parse(b"LARGER 12345678901234") == Size(True, 12345678901234)
    assert parse(b'SENTSINCE "1-Feb-2024"') == Date(True, "since", 738917)
    assert parse(b"BEFORE 29-feb-2024").day == 738945
    assert parse(b'SUBJECT "Caf\xc3\xa9 TALK"') == Column(b"s", "café talk".encode())
    assert parse(b"HEADER To X") == Column(b"t", b"x")
    assert parse(b'HEADER X-Spam ""') == Text("", "x-spam")
    assert parse(b"BODY {3}\r\nAbC") == Text("abc", "\0body")


def test_programs_combine_keys():
    assert parse(b"CHARSET utf-8 SEEN FLAGGED") == And((Flag(1, True), Flag(4, True)))
    assert parse(b"OR SEEN (UNSEEN DRAFT) NOT 2") == And((
        Or(Flag(1, True), And((Flag(1, False), Flag(16, True)))),
        Not(Sequence([(2, 2)], False))))


@pytest.mark.parametrize("text", [
    b"", b"FROB", b"SUBJECT", b"OR SEEN", b"NOT", b"()", b"BEFORE 32-Jan-2024",
    b"BEFORE 1-Foo-2024", b"ON 2024-01-01", b"LARGER -1", b"LARGER 12345678901234567890",
    b"KEYWORD \\Seen", b"UID x", b'HEADER "a b" c', b'HEADER "" c', b"BODY \"\xff\"",
    b"0", b"1:0"])
def test_malformed_programs_are_bad(text):
    with pytest.raises(Bad):
        parse(text)


def test_an_unknown_charset_is_no_badcharset():
    with pytest.raises(No) as caught:
        parse(b"CHARSET KOI8-R ALL")
    assert caught.value.code == "BADCHARSET (UTF-8 US-ASCII)"
    assert parse(b"CHARSET US-ASCII ALL") is not None


def test_programs_are_bounded():
    deep = b"NOT " * (searchkeys.MAX_DEPTH + 1) + b"ALL"
    with pytest.raises(Bad):
        parse(deep)
    assert parse(b"NOT " * (searchkeys.MAX_DEPTH - 1) + b"ALL") is not None
    with pytest.raises(Bad):
        parse(b"SEEN " * (searchkeys.MAX_KEYS + 1))
    # Far past the interpreter's recursion limit, still an answer.
    with pytest.raises(Bad):
        parse(b"OR " * (sys.getrecursionlimit() * 2) + b"ALL")


# evaluation over a store


class Mail:
    """Runs store work at once, where the daemon uses threads and a process."""

    async def call(self, fn, *args):
        return fn(*args)

    async def in_process(self, fn, *args):
        return fn(*args)


def message(subject, sender="a@example.org", date="Mon, 1 Jan 2024 10:00:00 +0000",
            body=b"hello", extra=b""):
    return (f"From: {sender}\r\nSubject: {subject}\r\nDate: {date}\r\n".encode()
            + extra + b"\r\n" + body + b"\r\n")


def three_messages(root):
    store = Store(root)
    store.deliver("1.Q.h", message("first", body=b"quick brown fox"),
                  internaldate=JAN_1_2024)
    store.deliver("2.Q.h", message("Re: second", "Bob <bob@example.net>",
                                   "Tue, 2 Jan 2024 23:30:00 -0500", body=b"x" * 500),
                  flags=["\\Seen", "$Work"], internaldate=JAN_1_2024 + 2 * DAY)
    store.deliver("3.Q.h", message("third", extra=b"X-Tag: blue\r\n", body=b"lazy dog"),
                  flags=["\\Flagged", "\\Seen"], internaldate=JAN_1_2024 + 5 * DAY)
    return store


@pytest.fixture
def store(tmp_path):
    with three_messages(tmp_path / "user") as s:
        yield s


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory):
    """The same messages, for the tests that change nothing."""
    with three_messages(tmp_path_factory.mktemp("search") / "user") as s:
        yield s


def session(store):
    return SimpleNamespace(mail=Mail(), selected=View(store.folder("INBOX")),
                           saved_search=None, store=store)


def found(s, text):
    indexes = asyncio.run(searchrun.matching(s, parse(text)))
    return [i + 1 for i in indexes]


@pytest.mark.parametrize("text,want", [
    (b"ALL", [1, 2, 3]), (b"SEEN", [2, 3]), (b"UNSEEN", [1]), (b"FLAGGED", [3]),
    (b"NOT FLAGGED", [1, 2]), (b"KEYWORD $work", [2]), (b"UNKEYWORD $Work", [1, 3]),
    (b"KEYWORD $Forwarded", []), (b"2:*", [2, 3]), (b"*", [3]), (b"7", []),
    (b"UID 2:4", [2, 3]), (b"UID 9:*", [3]), (b"OR 1 FLAGGED", [1, 3]),
    (b"SUBJECT SECOND", [2]), (b"FROM bob", [2]), (b"FROM example", [1, 2, 3]),
    (b"TO x", []), (b'HEADER X-Tag "BLU"', [3]), (b'NOT HEADER X-Tag ""', [1, 2]),
    (b"BODY FOX", [1]), (b"BODY first", []), (b"TEXT first", [1]),
    (b"SENTON 2-Jan-2024", [2]), (b"SENTBEFORE 2-Jan-2024", [1, 3]),
    (b"SENTSINCE 2-Jan-2024", [2]), (b"ON 3-Jan-2024", [2]),
    (b"BEFORE 3-Jan-2024", [1]), (b"SINCE 3-Jan-2024", [2, 3]),
    (b"LARGER 400", [2]), (b"SMALLER 400", [1, 3]), (b"RECENT", []),
    (b"OLD", [1, 2, 3]), (b"SEEN NOT UID 2 BODY dog", [3]),
])
def test_keys_match(unchanged, text, want):
    assert found(session(unchanged), text) == want


def test_recent_messages_are_the_session_s(store):
    s = session(store)
    s.selected.recent = [(1, 2), (3, 4)]       # UIDs 1 and 3
    assert found(s, b"NEW") == [1]
    assert found(s, b"OLD") == [2]


def test_the_saved_result_belongs_to_its_view(store):
    s = session(store)
    assert found(s, b"$") == []
    s.saved_search = search.SavedResult(s.selected, [3, 1])
    assert found(s, b"$") == [1, 3]
    assert found(s, b"NOT $") == [2]
    s.selected = View(store.folder("INBOX"))
    assert found(s, b"$") == []


def test_messages_expunged_meanwhile_match_nothing(store):
    s = session(store)
    store.folder("INBOX").expunge([2])
    # The view still holds message 2 (its session was not told yet).
    assert found(s, b"ALL") == [1, 3]
    assert found(s, b"UNSEEN") == [1]
    assert found(s, b"NOT SUBJECT first") == [3]


def test_many_files_are_read_in_the_scanning_process(store, monkeypatch):
    calls = []

    async def in_process(fn, *args):
        calls.append(fn.__name__)
        return fn(*args)
    monkeypatch.setattr(searchrun, "IN_PROCESS", 1)
    s = session(store)
    s.mail.in_process = in_process
    assert found(s, b"BODY dog") == [3]
    assert calls == ["matching_at"]


# answers


def test_sequence_sets_of_results():
    assert search.sequence_text([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"
    assert search.sequence_text([4]) == "4"


def test_esearch_lines():
    line = search.esearch_line("A1", True, {"MIN", "MAX", "ALL", "COUNT"}, [2, 3, 9])
    assert line == b'* ESEARCH (TAG "A1") UID MIN 2 MAX 9 ALL 2:3,9 COUNT 3\r\n'
    assert search.esearch_line("A2", False, {"MIN", "COUNT"}, []) == \
        b'* ESEARCH (TAG "A2") COUNT 0\r\n'
    assert search.esearch_line("A3", False, {"ALL"}, [1], modseq=7) == \
        b'* ESEARCH (TAG "A3") ALL 1 MODSEQ 7\r\n'
    assert search.search_line([]) == b"* SEARCH\r\n"
    assert search.search_line([1, 4], modseq=9) == b"* SEARCH 1 4 (MODSEQ 9)\r\n"


def test_return_options():
    args = tokenize(b"RETURN () SEEN")
    assert search.return_options(args) == ({"ALL"}, args[2:])
    assert search.return_options(tokenize(b"SEEN"))[0] is None
    for bad in (b"RETURN (FOO) ALL", b"RETURN ALL", b"RETURN (MIN)", b""):
        with pytest.raises(Bad):
            search.return_options(tokenize(bad))


def test_partial_and_update_options():
    # RFC 5267 4.4: PARTIAL takes two positions, in either order, never `*`.
    options, _ = search.return_options(tokenize(b"RETURN (PARTIAL 9:3 UPDATE) ALL"))
    assert options == {"PARTIAL", "UPDATE"} and options.partial == (3, 9)
    assert search.return_options(tokenize(b"RETURN (COUNT) ALL"))[0].partial is None
    for bad in (b"1", b"1:*", b"*:1", b"0:2", b"1:2,4", b"(1:2)", b""):
        with pytest.raises(Bad):
            search.return_options(tokenize(b"RETURN (PARTIAL " + bad + b") ALL"))


def test_partial_answers():
    options, _ = search.return_options(tokenize(b"RETURN (PARTIAL 2:3) ALL"))
    assert search.esearch_line("A1", False, options, [1, 4, 5, 9]) == \
        b'* ESEARCH (TAG "A1") PARTIAL (2:3 4:5)\r\n'
    options, _ = search.return_options(tokenize(b"RETURN (PARTIAL 5:6 COUNT) ALL"))
    assert search.esearch_line("A2", True, options, [1, 4]) == \
        b'* ESEARCH (TAG "A2") UID COUNT 2 PARTIAL (5:6 NIL)\r\n'
    # ESORT (RFC 5267 3): numbers in sort order stay in that order.
    options, _ = search.return_options(tokenize(b"RETURN (MIN MAX ALL) ALL"))
    assert search.esearch_line("A3", False, options, [7, 3, 4, 5, 1]) == \
        b'* ESEARCH (TAG "A3") MIN 7 MAX 1 ALL 7,3:5,1\r\n'


def test_what_min_and_max_keep():
    # RFC 5182 2.4: SAVE with MIN or MAX alone keeps only those.
    assert search.returned({"SAVE", "MIN"}, [3, 5, 8]) == [3]
    assert search.returned({"SAVE", "MIN", "MAX"}, [3, 5, 8]) == [3, 8]
    assert search.returned({"SAVE", "MAX", "COUNT"}, [3, 5, 8]) == [3, 5, 8]
    assert search.returned({"SAVE"}, [3, 5, 8]) == [3, 5, 8]


def test_dollar_stands_for_the_saved_messages_in_other_commands(store):
    s = session(store)
    s.saved_search = search.SavedResult(s.selected, [3, 2])
    cmd = parse_command(b"t FETCH $ (FLAGS)")
    search.resolve_saved(s, cmd)
    assert sequence_set(cmd.args[0]) == [(2, 3)]
    cmd = parse_command(b"t UID STORE $ +FLAGS (x)")
    cmd.name, cmd.args, cmd.uid = "STORE", cmd.args[1:], True
    search.resolve_saved(s, cmd)
    assert sequence_set(cmd.args[0]) == [(2, 3)]
    s.saved_search = None
    cmd = parse_command(b"t FETCH $ (FLAGS)")
    search.resolve_saved(s, cmd)
    assert sequence_set(cmd.args[0]) == []
