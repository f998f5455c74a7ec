"""imapd's ENVELOPE, BODYSTRUCTURE, BODY[section] of nested parts and BINARY on a
real socket: imaplib where it can say it, raw dialogs where it cannot."""

import imaplib
import re

import pytest

from harness import connect, wait_for
from mailsuite.core import maildir

USER = "demo@example.test"
PASSWORD = "secret-password"
# A message whose every string goes out quoted, so the line can be compared.
FORWARD = (b"From: Alice <alice@example.org>\r\n"
           b"To: bob@example.test, team: carol@example.test;\r\n"
           b"Subject: fwd\r\n"
           b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
           b"Message-ID: <1@example.org>\r\n"
           b"Content-Type: multipart/mixed; boundary=b1\r\n"
           b"\r\n"
           b"--b1\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"see below\r\n"
           b"--b1\r\n"
           b"Content-Type: message/rfc822\r\n"
           b"\r\n"
           b"Subject: inner\r\n"
           b"From: dan@example.org\r\n"
           b"\r\n"
           b"inner body\r\n"
           b"--b1\r\n"
           b"Content-Type: application/octet-stream; name=x.bin\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=x.bin\r\n"
           b"\r\n"
           b"AAECAwD/\r\n"
           b"--b1--\r\n")
ENVELOPE = (b'ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "fwd" (("Alice" NIL "alice"'
            b' "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL'
            b' "alice" "example.org")) ((NIL NIL "bob" "example.test")(NIL NIL "team"'
            b' NIL)(NIL NIL "carol" "example.test")(NIL NIL NIL NIL)) NIL NIL NIL'
            b' "<1@example.org>")')
BODYSTRUCTURE = (b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 9 0'
                 b' NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 51 (NIL'
                 b' "inner" ((NIL NIL "dan" "example.org")) ((NIL NIL "dan"'
                 b' "example.org")) ((NIL NIL "dan" "example.org")) NIL NIL NIL NIL NIL)'
                 b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL'
                 b' NIL NIL) 3 NIL NIL NIL NIL)("application" "octet-stream" ("name"'
                 b' "x.bin") NIL NIL "base64" 8 NIL ("attachment" ("filename" "x.bin"))'
                 b' NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL)')
BODY = (b'BODY (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 9 0)("message"'
        b' "rfc822" NIL NIL NIL "7bit" 51 (NIL "inner" ((NIL NIL "dan" "example.org"))'
        b' ((NIL NIL "dan" "example.org")) ((NIL NIL "dan" "example.org")) NIL NIL NIL'
        b' NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0) 3)'
        b'("application" "octet-stream" ("name" "x.bin") NIL NIL "base64" 8) "mixed")')
UUENCODED = (b"Subject: old style\r\n"
             b"Content-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: x-uuencode\r\n"
             b"\r\n"
             b"begin 644 x\r\n")


@pytest.fixture
def inst(instance):
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    # NO [SERVERBUG] answers would show up here as logged tracebacks.
    assert "Traceback" not in instance.log("imapd")


def deliver(instance, *messages):
    with maildir.Store(instance.maildir(USER)) as store:
        for data in messages:
            store.deliver(maildir.unique_base(), data)


def imaps(instance):
    client = imaplib.IMAP4_SSL("127.0.0.1", instance.port("imaps"),
                               ssl_context=instance.client_tls_context(), timeout=10)
    client.login(USER, PASSWORD)
    return client


def literals(data):
    """The literals of an imaplib FETCH answer, in order."""
    return [item[1] for item in data if isinstance(item, tuple)]


class Raw:
    """A line-level client, for what imaplib hides (literal8, BAD texts)."""

    def __init__(self, instance):
        self.sock = connect(instance.port("imap"))
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.command(f"LOGIN {USER} {PASSWORD}")

    def command(self, text):
        """(tagged line, untagged responses with their literals)."""
        self.sock.sendall(b"t " + text.encode() + b"\r\n")
        untagged = []
        while True:
            data = self.file.readline()
            while (match := re.search(rb"\{(\d+)\}\r\n\Z", data)):
                data += self.file.read(int(match.group(1))) + self.file.readline()
            if not data or data.startswith(b"t "):
                return data, untagged
            untagged.append(data)


def test_binary_is_a_capability(inst):
    client = imaps(inst)
    assert "BINARY" in client.capabilities


def test_envelope_bodystructure_and_body(inst):
    deliver(inst, FORWARD)
    client = imaps(inst)
    client.select("INBOX", readonly=True)
    _, data = client.fetch("1", "(ENVELOPE BODYSTRUCTURE BODY)")
    assert data == [b"1 (" + ENVELOPE + b" " + BODYSTRUCTURE + b" " + BODY + b")"]


def test_macros(inst):
    deliver(inst, FORWARD)
    client = imaps(inst)
    client.select("INBOX", readonly=True)
    _, (full,) = client.fetch("1", "FULL")
    # The first session to see the message has it \Recent (RFC 3501 2.3.2).
    match = re.fullmatch(rb'1 \(FLAGS \(\\Recent\) INTERNALDATE "[^"]+" '
                         rb'RFC822.SIZE %d (.*)\)' % len(FORWARD), full)
    assert match.group(1) == ENVELOPE + b" " + BODY
    _, (everything,) = client.fetch("1", "ALL")
    assert everything.endswith(b" " + ENVELOPE + b")")


def test_sections_of_nested_parts(inst):
    deliver(inst, FORWARD)
    client = imaps(inst)
    client.select("INBOX")
    cases = {
        "1": b"see below",
        "1.MIME": b"Content-Type: text/plain; charset=utf-8\r\n\r\n",
        # The CRLF before a delimiter is the delimiter's (RFC 2046 5.1.1).
        "2": b"Subject: inner\r\nFrom: dan@example.org\r\n\r\ninner body",
        "2.HEADER": b"Subject: inner\r\nFrom: dan@example.org\r\n\r\n",
        "2.HEADER.FIELDS (FROM)": b"From: dan@example.org\r\n\r\n",
        "2.TEXT": b"inner body",
        "2.1": b"inner body",
        "3": b"AAECAwD/",
        "4": b"",                    # no such part: an empty string
        "1.TEXT": b"",               # part 1 is not a message
    }
    for section, expected in cases.items():
        _, data = client.fetch("1", f"(BODY.PEEK[{section}])")
        assert literals(data) == [expected], section
    _, data = client.fetch("1", "(BODY.PEEK[2.TEXT]<6.100>)")
    assert data[0][0].endswith(b"BODY[2.TEXT]<6> {4}") and literals(data) == [b"body"]
    _, data = client.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Recent))"]
    # Without .PEEK, reading a part sets \Seen, and FLAGS go out with it.
    _, data = client.fetch("1", "(BODY[2.1])")
    assert b"FLAGS (\\Seen \\Recent)" in data[0][0]


def test_binary_decodes_and_sends_nul_in_literal8(inst):
    deliver(inst, FORWARD)
    raw = Raw(inst)
    raw.command("SELECT INBOX")
    tagged, untagged = raw.command("FETCH 1 (BINARY.SIZE[3] BINARY.PEEK[3] "
                                   "BINARY.PEEK[1]<4.3> BINARY.SIZE[])")
    assert tagged.startswith(b"t OK")
    # RFC 3516 4.3: literal8 for data with NUL; a string without.
    assert untagged == [b"* 1 FETCH (BINARY.SIZE[3] 6 BINARY[3] ~{6}\r\n"
                        b"\x00\x01\x02\x03\x00\xff BINARY[1]<4> {3}\r\nbel "
                        b"BINARY.SIZE[] %d)\r\n" % len(FORWARD)]
    tagged, untagged = raw.command("FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Recent))\r\n"]
    _, untagged = raw.command("FETCH 1 (BINARY[1])")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Seen \\Recent) BINARY[1] {9}\r\n"
                        b"see below)\r\n"]


def test_an_unknown_encoding_ends_the_fetch_with_no(inst):
    deliver(inst, FORWARD, UUENCODED, FORWARD)
    raw = Raw(inst)
    raw.command("SELECT INBOX")
    tagged, untagged = raw.command("FETCH 1:3 (BINARY[1])")
    # RFC 3516 4.2: NO [UNKNOWN-CTE]; the message before is answered.
    assert tagged.startswith(b"t NO [UNKNOWN-CTE]")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Seen \\Recent) BINARY[1] {9}\r\n"
                        b"see below)\r\n"]
    _, untagged = raw.command("FETCH 1:3 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n",
                        b"* 2 FETCH (FLAGS (\\Recent))\r\n",
                        b"* 3 FETCH (FLAGS (\\Recent))\r\n"]
    # BODY has nothing to decode.
    tagged, untagged = raw.command("FETCH 2 (BODY.PEEK[1])")
    assert tagged.startswith(b"t OK") and untagged[0].endswith(b"begin 644 x\r\n)\r\n")


@pytest.mark.parametrize("item", [
    "BODY[MIME]", "BODY[0]", "BODY[1.0]", "BODY[01]", "BODY[1.]", "BODY[1.MIME.X]",
    "BODY[1.HEADER.FIELDS]", "BINARY[1.MIME]", "BINARY[HEADER]", "BINARY.SIZE[1]<0.1>",
    "BINARY[1]<0>", "ENVELOPE[]", "BODYSTRUCTURE.PEEK"])
def test_malformed_items_are_bad_and_the_session_goes_on(inst, item):
    deliver(inst, FORWARD)
    raw = Raw(inst)
    raw.command("SELECT INBOX")
    tagged, untagged = raw.command(f"FETCH 1 ({item})")
    assert tagged.startswith(b"t BAD") and untagged == []
    tagged, _ = raw.command("NOOP")
    assert tagged.startswith(b"t OK")


def test_a_message_another_program_wrote(inst):
    # Bare LF line ends and no index entry: described at the first question,
    # in wire form (CRLF).
    root = inst.maildir(USER)
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "new" / "1700000000.other.host").write_bytes(
        FORWARD.replace(b"\r\n", b"\n"))
    client = imaps(inst)
    client.select("INBOX", readonly=True)
    wait_for(lambda: client.noop() and client.select("INBOX", readonly=True)[1] == [b"1"])
    _, data = client.fetch("1", "(BODYSTRUCTURE BODY.PEEK[2.1])")
    assert data[0][0].startswith(b"1 (" + BODYSTRUCTURE + b" BODY[2.1] {10}")
    assert literals(data) == [b"inner body"]
