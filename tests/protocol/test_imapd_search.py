"""imapd's SEARCH, ESEARCH, SEARCHRES, SORT and THREAD on real sockets: imaplib where
it can say it, raw dialogs where it cannot (ESEARCH answers, `$`, 8-bit strings)."""

import base64
import imaplib
import os
import re

import pytest

from harness import connect
from mailsuite.core import maildir

USER = "demo@example.test"
PASSWORD = "secret-password"
DAY = 86400
JAN_1 = 1_704_067_200           # 2024-01-01 00:00 UTC

MESSAGES = [
    # 1
    (b"From: Alice Martin <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n"
     b"Subject: Quarterly report\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
     b"Message-ID: <q1@example.org>\r\n\r\nThe numbers are in.\r\n",
     ["\\Seen"], JAN_1 + 12 * 3600),
    # 2: sent on the 2nd as written, the 3rd in UTC
    (b"From: \"Bob Nguyen\" <bob@example.net>\r\nTo: alice@example.org\r\n"
     b"Cc: Carol <carol@example.com>\r\nSubject: Re: Quarterly report\r\n"
     b"Date: Tue, 2 Jan 2024 23:30:00 -0500\r\nMessage-ID: <q2@example.net>\r\n"
     b"References: <q1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes("Café crème, merci.".encode()).replace(b"\n", b"\r\n"),
     ["\\Answered", "\\Seen"], JAN_1 + 2 * DAY + 5 * 3600),
    # 3: sent after 2 as written, before it in UTC
    (b"From: =?ISO-8859-1?Q?Chlo=E9?= Dubois <chloe@example.fr>\r\n"
     b"To: team: ann@example.org, ben@example.org;\r\nBcc: dave@example.org\r\n"
     b"Subject: =?UTF-8?B?UsOpdW5pb24gZCfDqXF1aXBl?=\r\n"
     b"Date: Wed, 3 Jan 2024 01:00:00 +0100\r\nMessage-ID: <r1@example.fr>\r\n"
     b"X-Priority: 1 (Highest)\r\n"
     b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
     b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"Rendez-vous =C3=A0 mi=\r\ndi.\r\n"
     b"--outer\r\nContent-Type: application/pdf\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes(b"secretword inside a binary").replace(b"\n", b"\r\n")
     + b"--outer--\r\n",
     ["\\Flagged"], JAN_1 + 2 * DAY + 7 * 3600),
    # 4: no Date, no Subject
    (b"From: zed@example.com\r\nTo: bob@example.net\r\n\r\nshort\r\n",
     ["$Later"], JAN_1 + 9 * DAY),
]


@pytest.fixture
def inst(instance):
    instance.add_user(USER, PASSWORD)
    with maildir.Store(instance.maildir(USER)) as store:
        for data, flags, date in MESSAGES:
            store.deliver(maildir.unique_base(), data, flags=flags, internaldate=date)
    instance.start("imapd")
    yield instance
    assert "Traceback" not in instance.log("imapd")


def client(instance):
    c = imaplib.IMAP4("127.0.0.1", instance.port("imap"), timeout=30)
    c.login(USER, PASSWORD)
    c.select("INBOX")
    return c


def numbers(c, *criteria):
    typ, data = c.search(None, *criteria)
    assert typ == "OK", data
    return [int(n) for n in data[0].split()]


class Raw:
    """Commands as sent and responses as received, logged in, INBOX selected."""

    def __init__(self, instance, select=True):
        self.sock = connect(instance.port("imap"))
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.tag = 0
        self.ok(f"LOGIN {USER} {PASSWORD}")
        if select:
            self.ok("SELECT INBOX")

    def command(self, text):
        """(tagged line, [untagged lines]), line ends removed."""
        self.tag += 1
        tag = b"t%d" % self.tag
        self.sock.sendall(tag + b" " + (text.encode() if isinstance(text, str) else text)
                          + b"\r\n")
        untagged = []
        while True:
            line = self.file.readline()
            assert line, f"connection closed after {untagged}"
            line = line.rstrip(b"\r\n")
            if line.startswith(tag + b" "):
                return line, untagged
            untagged.append(line)

    def ok(self, text):
        tagged, untagged = self.command(text)
        assert b" OK " in tagged, (tagged, untagged)
        return untagged

    def close(self):
        self.file.close()
        self.sock.close()


# SEARCH


def test_capabilities(inst):
    c = client(inst)
    for cap in ("ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES",
                "THREAD=ORDEREDSUBJECT"):
        assert cap in c.capabilities


def test_flags_sets_and_combinations(inst):
    c = client(inst)
    assert numbers(c, "ALL") == [1, 2, 3, 4]
    assert numbers(c, "SEEN") == [1, 2]
    assert numbers(c, "UNSEEN") == [3, 4]
    assert numbers(c, "ANSWERED") == [2]
    assert numbers(c, "UNANSWERED FLAGGED") == [3]
    assert numbers(c, "DRAFT") == []
    assert numbers(c, "UNDRAFT UNDELETED") == [1, 2, 3, 4]
    assert numbers(c, "KEYWORD", "$later") == [4]
    assert numbers(c, "UNKEYWORD", "$Later") == [1, 2, 3]
    assert numbers(c, "2:3,*") == [2, 3, 4]
    assert numbers(c, "UID", "3:*") == [3, 4]
    assert numbers(c, "OR", "1", "OR", "FLAGGED", "KEYWORD", "$Later") == [1, 3, 4]
    assert numbers(c, "NOT", "(SEEN", "ANSWERED)") == [1, 3, 4]
    assert numbers(c, "(SEEN)", "NOT", "2") == [1]
    # RFC 9051 6.4.4: beyond the last message, nothing matches.
    assert numbers(c, "9:12") == []
    c.store("1", "+FLAGS", "(\\Deleted)")
    assert numbers(c, "DELETED") == [1]
    typ, data = c.uid("SEARCH", "UID", "2:4 NOT 3")
    assert data == [b"2 4"]


def test_header_keys(inst):
    c = client(inst)
    assert numbers(c, "SUBJECT", "QUARTERLY") == [1, 2]
    assert numbers(c, "SUBJECT", "\"Re: Quarterly\"") == [2]
    assert numbers(c, "SUBJECT", "quipe") == [3]          # decoded: Réunion d'équipe
    assert numbers(c, "FROM", "chlo") == [3]
    assert numbers(c, "FROM", "nguyen") == [2]
    assert numbers(c, "FROM", "alice@example.org") == [1]
    assert numbers(c, "TO", "team") == [3]
    assert numbers(c, "TO", "ben@") == [3]
    assert numbers(c, "TO", "bob") == [1, 4]
    assert numbers(c, "CC", "carol") == [2]
    assert numbers(c, "BCC", "dave") == [3]
    assert numbers(c, "HEADER", "X-Priority", "highest") == [3]
    assert numbers(c, "HEADER", "Message-ID", "q1@") == [1]
    assert numbers(c, "HEADER", "SUBJECT", "\"\"") == [1, 2, 3]
    assert numbers(c, "NOT", "HEADER", "Date", "\"\"") == [4]
    assert numbers(c, "HEADER", "X-Missing", "\"\"") == []


def test_date_and_size_keys(inst):
    c = client(inst)
    # The sent date as written (RFC 9051 6.4.4: time and timezone disregarded).
    assert numbers(c, "SENTON", "2-Jan-2024") == [2]
    assert numbers(c, "SENTBEFORE", "3-Jan-2024") == [1, 2]
    # Without a Date field, the internal date stands in (RFC 5256 2.2).
    assert numbers(c, "SENTSINCE", "3-Jan-2024") == [3, 4]
    assert numbers(c, "SENTON", "10-Jan-2024") == [4]
    assert numbers(c, "ON", "3-Jan-2024") == [2, 3]
    assert numbers(c, "BEFORE", "3-Jan-2024") == [1]
    assert numbers(c, "SINCE", "\"4-Jan-2024\"") == [4]
    typ, data = c.fetch("1:4", "(RFC822.SIZE)")
    sizes = [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]
    middle = sorted(sizes)[1]
    assert numbers(c, "LARGER", str(middle)) == \
        [i + 1 for i, size in enumerate(sizes) if size > middle]
    assert numbers(c, "SMALLER", str(middle)) == \
        [i + 1 for i, size in enumerate(sizes) if size < middle]
    assert numbers(c, "NOT", "LARGER", str(middle), "NOT", "SMALLER", str(middle)) \
        == [sizes.index(middle) + 1]


def test_body_and_text_keys(inst):
    c = client(inst)
    assert numbers(c, "BODY", "numbers") == [1]
    assert numbers(c, "BODY", "midi") == [3]              # quoted-printable, soft break
    assert numbers(c, "BODY", "secretword") == []         # an attachment is no text
    assert numbers(c, "BODY", "quarterly") == []          # the header is not the body
    assert numbers(c, "TEXT", "quarterly") == [1, 2]
    assert numbers(c, "TEXT", "carol") == [2]
    assert numbers(c, "SEEN", "TEXT", "report") == [1, 2]


def test_8bit_strings_and_charsets(inst):
    raw = Raw(inst)
    _, untagged = raw.command(b"SEARCH CHARSET UTF-8 BODY {6+}\r\nCR\xc3\x88ME")
    assert untagged == [b"* SEARCH 2"]
    assert raw.ok(b'SEARCH SUBJECT "R\xc3\xa9union"') == [b"* SEARCH 3"]
    assert raw.ok("SEARCH CHARSET us-ascii FROM zed") == [b"* SEARCH 4"]
    tagged, untagged = raw.command("SEARCH CHARSET ISO-2022-JP ALL")
    assert tagged.endswith(b"NO [BADCHARSET (UTF-8 US-ASCII)] "
                           b"charset ISO-2022-JP is not supported")
    assert untagged == []
    tagged, _ = raw.command(b'SEARCH BODY "\xff\xfe"')
    assert b" BAD " in tagged
    raw.close()


@pytest.mark.parametrize("command", [
    "SEARCH", "SEARCH FROB", "SEARCH SUBJECT", "SEARCH BEFORE 31-Feb-2024",
    "SEARCH LARGER x", "SEARCH OR SEEN", "SEARCH NOT", "SEARCH ()", "SEARCH 0:4",
    "SEARCH RETURN (BOGUS) ALL", "SEARCH RETURN ALL", "SEARCH KEYWORD \\Seen",
    "SEARCH HEADER \"a:b\" x", "UID SEARCH UID", "SORT (DATE) ALL",
    "SORT DATE UTF-8 ALL", "SORT (REVERSE) UTF-8 ALL", "THREAD FOO UTF-8 ALL",
    "THREAD REFERENCES UTF-8", "SEARCH " + "NOT " * 300 + "ALL"])
def test_malformed_commands_are_bad_and_the_session_goes_on(inst, command):
    raw = Raw(inst)
    tagged, untagged = raw.command(command)
    assert b" BAD " in tagged and untagged == []
    assert raw.ok("SEARCH SEEN") == [b"* SEARCH 1 2"]
    raw.close()


def test_search_is_only_in_the_selected_state(inst):
    raw = Raw(inst, select=False)
    tagged, _ = raw.command("SEARCH ALL")
    assert b" BAD " in tagged and b"not allowed" in tagged
    raw.close()


# ESEARCH and SEARCHRES


def test_esearch_return_options(inst):
    raw = Raw(inst)
    assert raw.ok("SEARCH RETURN (MIN MAX COUNT) UNSEEN") == \
        [b'* ESEARCH (TAG "t3") MIN 3 MAX 4 COUNT 2']
    assert raw.ok("SEARCH RETURN () ALL") == [b'* ESEARCH (TAG "t4") ALL 1:4']
    assert raw.ok("UID SEARCH RETURN (ALL) NOT 2") == \
        [b'* ESEARCH (TAG "t5") UID ALL 1,3:4']
    # RFC 4731 3.1: nothing found, MIN, MAX and ALL are left out; COUNT is 0.
    assert raw.ok("SEARCH RETURN (MIN MAX ALL COUNT) DRAFT") == \
        [b'* ESEARCH (TAG "t6") COUNT 0']
    assert raw.ok("UID SEARCH RETURN (MIN) DRAFT") == [b'* ESEARCH (TAG "t7") UID']
    raw.close()


def test_the_saved_result_stands_for_a_sequence_set(inst):
    raw = Raw(inst)
    # RFC 5182 2.1: SAVE alone answers no ESEARCH.
    assert raw.ok("SEARCH RETURN (SAVE) OR FLAGGED ANSWERED") == []
    assert raw.ok("FETCH $ (UID)") == [b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)"]
    # The first session to see the messages has them \Recent (RFC 3501 2.3.2).
    assert raw.ok("UID FETCH $ (FLAGS)") == [b"* 2 FETCH (UID 2 FLAGS (\\Answered "
                                             b"\\Seen \\Recent))",
                                             b"* 3 FETCH (UID 3 FLAGS (\\Flagged "
                                             b"\\Recent))"]
    assert raw.ok("SEARCH $ SEEN") == [b"* SEARCH 2"]
    assert raw.ok("SEARCH NOT $") == [b"* SEARCH 1 4"]
    raw.ok("STORE $ +FLAGS.SILENT (\\Draft)")
    assert raw.ok("SEARCH DRAFT") == [b"* SEARCH 2 3"]
    # RFC 5182 2.4: MIN alone, only the minimum is saved.
    assert raw.ok("UID SEARCH RETURN (SAVE MIN) ALL") == \
        [b'* ESEARCH (TAG "t10") UID MIN 1']
    assert raw.ok("SEARCH $") == [b"* SEARCH 1"]
    # A search with SAVE that fails leaves the result empty.
    tagged, _ = raw.command("SEARCH RETURN (SAVE) BEFORE 40-Jan-2024")
    assert b" BAD " in tagged
    assert raw.ok("SEARCH $") == [b"* SEARCH"]
    assert raw.ok("FETCH $ (UID)") == []
    # Another SELECT starts with an empty result.
    raw.ok("SEARCH RETURN (SAVE) ALL")
    raw.ok("SELECT INBOX")
    assert raw.ok("SEARCH $") == [b"* SEARCH"]
    raw.close()


def test_no_expunge_is_sent_during_a_search(inst):
    raw = Raw(inst)
    other = client(inst)
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    # RFC 9051 7.5.1: no EXPUNGE during SEARCH; the gone message matches nothing.
    assert raw.ok("SEARCH ALL") == [b"* SEARCH 2 3 4"]
    assert b"* 1 EXPUNGE" in raw.ok("NOOP")
    assert raw.ok("SEARCH ALL") == [b"* SEARCH 1 2 3"]
    raw.close()


# SORT and THREAD


def test_sort(inst):
    c = client(inst)

    def sort(criteria, *search):
        typ, data = c.sort(criteria, "UTF-8", *(search or ("ALL",)))
        assert typ == "OK", data
        return [int(n) for n in data[0].split()]

    assert sort("(ARRIVAL)") == [1, 2, 3, 4]
    assert sort("(REVERSE ARRIVAL)") == [4, 3, 2, 1]
    assert sort("(DATE)") == [1, 3, 2, 4]           # 3 is sent before 2, in UTC
    assert sort("(SUBJECT)") == [4, 1, 2, 3]        # "", QUARTERLY... x2, RÉUNION
    assert sort("(SUBJECT REVERSE DATE)") == [4, 2, 1, 3]
    assert sort("(FROM)") == [1, 2, 3, 4]           # alice, bob, chloe, zed
    assert sort("(REVERSE FROM)") == [4, 3, 2, 1]
    assert sort("(CC)") == [1, 3, 4, 2]             # no Cc sorts first
    assert sort("(TO)") == [2, 1, 4, 3]             # alice, bob, bob, team
    assert sort("(DISPLAYFROM)") == [1, 2, 3, 4]    # Alice, Bob, Chloé, zed@
    assert sort("(DISPLAYTO)") == [2, 1, 4, 3]      # alice@, Bob, bob@, team
    assert sort("(SIZE)")[0] == 4
    assert sort("(ARRIVAL)", "UNSEEN") == [3, 4]
    typ, data = c.uid("SORT", "(REVERSE DATE)", "UTF-8", "NOT", "1")
    assert data == [b"4 2 3"]


def test_thread(inst):
    c = client(inst)
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    assert data == [b"(1 2)(3)(4)"]
    typ, data = c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data == [b"(1 2)(3)(4)"]      # by the date of each first message
    # RFC 5256 2.2: threads go by sent date in UTC, where 3 comes before 2.
    typ, data = c.uid("THREAD", "REFERENCES", "UTF-8", "NOT", "1")
    assert data == [b"(3)(2)(4)"]
    # A changed mailbox is threaded again, not answered from what was kept.
    c.store("1", "+FLAGS", "(\\Deleted)")
    c.expunge()
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    assert data == [b"(2)(1)(3)"]


# mail of other tools


def test_mail_of_other_tools_is_searched_sorted_and_threaded(instance):
    instance.add_user(USER, PASSWORD)
    root = instance.maildir(USER)
    with maildir.Store(root):
        pass
    count = 320         # more than imapd reads in a thread: the scanning process does
    for n in range(count):
        parent = f"References: <m{n - 1}@x>\n" if n % 2 else ""
        path = root / "new" / f"{1_700_000_000 + n}.other{n}"
        path.write_bytes(
            f"Subject: item {n}\nMessage-ID: <m{n}@x>\n{parent}\nbody {n} "
            f"{'needle' if n % 40 == 0 else 'hay'}\n".encode())
        # Without a Date field the internal date (the file's mtime) is the sent date.
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    instance.start("imapd")
    c = client(instance)
    assert numbers(c, "SUBJECT", "\"item 317\"") == [318]
    assert numbers(c, "BODY", "needle") == [n + 1 for n in range(0, count, 40)]
    typ, data = c.thread("REFERENCES", "UTF-8", "1:4")
    assert data == [b"(1 2)(3 4)"]
    typ, data = c.sort("(REVERSE DATE)", "UTF-8", "1:3")
    assert data == [b"3 2 1"]
    assert "Traceback" not in instance.log("imapd")
