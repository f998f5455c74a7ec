"""imapd's session features on real sockets: CONDSTORE and QRESYNC (RFC 7162),
ENABLE, ID, UNAUTHENTICATE, COMPRESS=DEFLATE, UTF8=ACCEPT and IMAP4rev2, with
several sessions on one mailbox. Raw dialogs, since imaplib knows none of these."""

import imaplib
import re
import zlib

import pytest

from harness import connect
from mailsuite.core import maildir
from mailsuite.core.mailkeywords import MAX_KEYWORDS

USER = "demo@example.test"
PASSWORD = "secret-password"
MESSAGE = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def inst(instance):
    instance.add_user(USER, PASSWORD)
    yield instance
    log = instance.log("imapd")
    assert "Traceback" not in log
    assert max((len(line.encode()) for line in log.splitlines()), default=0) <= 2048


@pytest.fixture
def imapd(inst):
    inst.start("imapd")
    return inst


def deliver(instance, count=1, folder="INBOX"):
    with maildir.Store(instance.maildir(USER)) as store:
        return [store.deliver(maildir.unique_base(), MESSAGE, folder=folder)
                for _ in range(count)]


class Client:
    """A line-level IMAP client that can also speak deflated (RFC 4978)."""

    def __init__(self, port, context=None):
        self.sock = connect(port)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.data = b""
        self.inflate = self.deflate = None
        self.greeting = self.line()

    def _more(self):
        chunk = self.sock.recv(65536)
        if chunk and self.inflate is not None:
            chunk = self.inflate.decompress(chunk)
        self.data += chunk
        return bool(chunk)

    def line(self):
        while b"\n" not in self.data and self._more():
            pass
        line, _, self.data = self.data.partition(b"\n")
        return line + b"\n" if line or self.data else line

    def read(self, count):
        while len(self.data) < count and self._more():
            pass
        out, self.data = self.data[:count], self.data[count:]
        return out

    def send(self, data):
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def response(self):
        data = self.line()
        while (match := re.search(rb"\{(\d+)\}\r\n\Z", data)):
            data += self.read(int(match.group(1))) + self.line()
        return data

    def command(self, text, tag="t1"):
        """(tagged line, [untagged responses]) of one command."""
        self.send(f"{tag} {text}\r\n".encode())
        untagged = []
        while True:
            data = self.response()
            if not data:
                raise AssertionError(f"connection closed after {untagged}")
            if data.startswith(tag.encode() + b" "):
                return data, untagged
            untagged.append(data)

    def ok(self, text):
        tagged, untagged = self.command(text)
        assert tagged.startswith(b"t1 OK"), (text, tagged, untagged)
        return tagged, untagged

    def login(self):
        self.ok(f"LOGIN {USER} {PASSWORD}")

    def close(self):
        self.sock.close()


def capabilities(client):
    _, untagged = client.ok("CAPABILITY")
    return untagged[0].split()[2:]


def fetched(untagged):
    """{seq: text inside FETCH (...)} of the FETCH responses."""
    found = {}
    for line in untagged:
        match = re.match(rb"\* (\d+) FETCH \((.*)\)\r\n\Z", line)
        if match:
            found[int(match.group(1))] = match.group(2).decode()
    return found


def highestmodseq(lines):
    for line in lines:
        match = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no HIGHESTMODSEQ in {lines}")


def uidvalidity(untagged):
    return int(next(re.search(rb"UIDVALIDITY (\d+)", line).group(1)
                    for line in untagged if b"UIDVALIDITY" in line))


# capabilities, ENABLE, ID


def test_capabilities_before_and_after_login(imapd):
    client = Client(imapd.port("imap"))
    before = capabilities(client)
    for cap in (b"ID", b"ENABLE", b"CONDSTORE", b"QRESYNC", b"UTF8=ACCEPT"):
        assert cap in before
    assert b"COMPRESS=DEFLATE" not in before and b"UNAUTHENTICATE" not in before
    # Both revisions, a client enabling IMAP4rev2 (decision 0012).
    assert b"IMAP4rev1" in before and b"IMAP4rev2" in before
    client.login()
    after = capabilities(client)
    assert b"COMPRESS=DEFLATE" in after and b"UNAUTHENTICATE" in after


def test_enable_lists_what_it_turned_on_and_only_before_select(imapd):
    client = Client(imapd.port("imap"))
    tagged, _ = client.command("ENABLE CONDSTORE")
    assert tagged.startswith(b"t1 BAD")                 # not logged in
    client.login()
    _, untagged = client.ok("ENABLE CONDSTORE X-NOT-A-THING utf8=accept")
    assert untagged == [b"* ENABLED CONDSTORE UTF8=ACCEPT\r\n"]
    _, untagged = client.ok("ENABLE CONDSTORE QRESYNC")
    assert untagged == [b"* ENABLED QRESYNC\r\n"]
    _, untagged = client.ok("ENABLE IMAP4rev2")
    assert untagged == [b"* ENABLED IMAP4rev2\r\n"]
    assert client.command("ENABLE")[0].startswith(b"t1 BAD")
    client.ok("SELECT INBOX")
    assert client.command("ENABLE CONDSTORE")[0].startswith(b"t1 BAD")


def test_id_answers_with_the_server_and_logs_the_client_escaped(imapd):
    client = Client(imapd.port("imap"))
    _, untagged = client.ok('ID ("name" "Thunder\\"bird" "version" "115.0" "os" NIL)')
    assert re.fullmatch(rb'\* ID \("name" "mailsuite" "version" "[0-9.]+"\)\r\n',
                        untagged[0])
    client.ok("ID NIL")
    # Over RFC 2971's limits: BAD, and the session goes on.
    pairs = " ".join(f'"f{n}" "v"' for n in range(31))
    assert client.command(f"ID ({pairs})")[0].startswith(b"t1 BAD")
    assert client.command(f'ID ("{"f" * 31}" "v")')[0].startswith(b"t1 BAD")
    assert client.command('ID ("name")')[0].startswith(b"t1 BAD")
    client.login()
    client.send(b't1 ID ("name" {12}\r\n')
    assert client.line().startswith(b"+")
    client.send(b"evil\r\n* BYE\x00" + b' "version" "' + b"9" * 1024 + b'")\r\n')
    tagged = client.response()
    while not tagged.startswith(b"t1 "):
        tagged = client.response()
    assert tagged.startswith(b"t1 OK")
    log = imapd.log("imapd")
    lines = [line for line in log.splitlines() if "id: " in line]
    assert len(lines) == 1, lines                      # once per session
    assert 'name=Thunder"bird version=115.0 os=NIL' in lines[0]
    client.close()
    second = Client(imapd.port("imap"))
    second.login()
    second.send(b't1 ID ("name" {12}\r\nevil\r\n* BYE\x00 "version" "' + b"9" * 1024
                + b'")\r\n')
    while not second.response().startswith(b"t1 "):
        pass
    lines = [line for line in imapd.log("imapd").splitlines() if "id: " in line]
    assert len(lines) == 2 and "evil??* BYE?" in lines[1] and len(lines[1]) < 400


# CONDSTORE


def test_condstore_modseqs_in_fetch_store_and_select(imapd):
    uids = deliver(imapd, 3)
    client = Client(imapd.port("imap"))
    client.login()
    _, untagged = client.ok("SELECT INBOX")
    start = highestmodseq(untagged)
    # A CONDSTORE enabling command with a mailbox selected tells HIGHESTMODSEQ.
    _, untagged = client.ok("FETCH 1:3 (FLAGS MODSEQ)")
    assert highestmodseq(untagged) == start
    assert all(re.fullmatch(r"FLAGS \(\\Recent\) MODSEQ \(\d+\)", v)
               for v in fetched(untagged).values())
    # Every STORE reply now carries UID and MODSEQ, even a silent one.
    _, untagged = client.ok("STORE 1 +FLAGS (\\Seen)")
    line = fetched(untagged)[1]
    first = int(re.search(r"MODSEQ \((\d+)\)", line).group(1))
    assert first > start and f"UID {uids[0]}" in line and "\\Seen" in line
    _, untagged = client.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert re.fullmatch(rf"UID {uids[1]} MODSEQ \(\d+\)", fetched(untagged)[2])
    # FETCH CHANGEDSINCE: only what changed after it, MODSEQ included.
    _, untagged = client.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {first})")
    assert list(fetched(untagged)) == [2]
    _, untagged = client.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {start})")
    assert sorted(fetched(untagged)) == [1, 2]
    # A FETCH that sets \Seen reports UID, FLAGS and MODSEQ.
    _, untagged = client.ok("FETCH 3 (BODY[TEXT])")
    assert re.search(rf"UID {uids[2]} FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\) "
                     r"BODY\[TEXT\]", untagged[0].decode())


def test_conditional_store_refuses_what_changed_meanwhile(imapd):
    uids = deliver(imapd, 3)
    client, other = Client(imapd.port("imap")), Client(imapd.port("imap"))
    for c in (client, other):
        c.login()
        c.ok("SELECT INBOX (CONDSTORE)")
    _, untagged = client.ok("FETCH 1:3 (MODSEQ)")
    known = max(int(m) for m in re.findall(r"MODSEQ \((\d+)\)",
                                          " ".join(fetched(untagged).values())))
    other.ok("STORE 2 +FLAGS (\\Answered)")
    tagged, untagged = client.ok(
        f"STORE 1:3 (UNCHANGEDSINCE {known}) +FLAGS.SILENT (\\Deleted)")
    assert b"[MODIFIED 2]" in tagged
    assert sorted(fetched(untagged)) == [1, 3]
    tagged, _ = client.ok(f"UID STORE {uids[1]} (UNCHANGEDSINCE {known}) "
                          "-FLAGS (\\Answered)")
    assert f"[MODIFIED {uids[1]}]".encode() in tagged
    # RFC 7162 3.1.3: UNCHANGEDSINCE 0 always fails.
    assert b"[MODIFIED 1]" in client.ok("STORE 1 (UNCHANGEDSINCE 0) FLAGS ()")[0]
    _, untagged = other.ok("FETCH 1:3 (FLAGS)")
    assert [("\\Deleted" in v, "\\Answered" in v) for v in fetched(untagged).values()] \
        == [(True, False), (False, True), (True, False)]
    for bad in ("STORE 1 (UNCHANGEDSINCE x) FLAGS ()",
                "STORE 1 (UNCHANGEDSINCE 99999999999999999999) FLAGS ()",
                "STORE 1 (CHANGEDSINCE 1) FLAGS ()", "FETCH 1 FLAGS (CHANGEDSINCE)",
                "FETCH 1 FLAGS (VANISHED)", "UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)",
                "SELECT INBOX (QRESYNC (1 1))", "SELECT INBOX (FROB)"):
        assert client.command(bad)[0].startswith(b"t1 BAD"), bad
    client.ok("NOOP")


def test_other_sessions_changes_reach_a_condstore_session_with_modseq(imapd):
    uids = deliver(imapd, 4)
    watcher, changer = Client(imapd.port("imap")), Client(imapd.port("imap"))
    for c in (watcher, changer):
        c.login()
    watcher.ok("ENABLE CONDSTORE")
    watcher.ok("SELECT INBOX")
    changer.ok("SELECT INBOX")
    changer.ok("STORE 2 +FLAGS (\\Flagged)")
    changer.ok("STORE 3 +FLAGS (\\Deleted)")
    changer.ok("EXPUNGE")
    deliver(imapd)
    # Numbers do not shift under the watcher until it may hear of expunges.
    _, untagged = watcher.ok("FETCH 4 (UID)")
    assert fetched(untagged) == {4: f"UID {uids[3]}"}
    _, untagged = watcher.ok("NOOP")
    assert untagged[0] == b"* 3 EXPUNGE\r\n"
    assert b"* 4 EXISTS\r\n" in untagged
    flags = fetched(untagged)[2]
    assert re.fullmatch(rf"UID {uids[1]} FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)",
                        flags)
    tagged, _ = watcher.ok("EXPUNGE")
    assert highestmodseq([tagged]) >= int(re.search(r"MODSEQ \((\d+)\)", flags).group(1))


# QRESYNC


def test_qresync_brings_back_a_client_that_was_away(imapd):
    """The dialog of RFC 7162 3.2.5: a client that was offline while another
    session changed flags, expunged, and mail arrived, is brought up to date by
    its SELECT, then checks with UID FETCH (CHANGEDSINCE ... VANISHED)."""
    uids = deliver(imapd, 6)
    away = Client(imapd.port("imap"))
    away.login()
    away.ok("ENABLE QRESYNC")
    _, untagged = away.ok("SELECT INBOX")
    validity, seen = uidvalidity(untagged), highestmodseq(untagged)
    away.ok("LOGOUT")
    other = Client(imapd.port("imap"))
    other.login()
    other.ok("SELECT INBOX")
    other.ok("STORE 2 +FLAGS (\\Seen)")
    other.ok("STORE 3,5 +FLAGS (\\Deleted)")
    other.ok("EXPUNGE")
    other.ok(f"UID STORE {uids[3]} +FLAGS (\\Answered)")
    new = deliver(imapd)[0]
    back = Client(imapd.port("imap"))
    back.login()
    # QRESYNC needs ENABLE first (RFC 7162 3.2.5).
    tagged, _ = back.command(f"SELECT INBOX (QRESYNC ({validity} {seen}))")
    assert tagged.startswith(b"t1 BAD")
    _, untagged = back.ok("ENABLE QRESYNC")
    assert untagged == [b"* ENABLED QRESYNC\r\n"]
    known = f"{uids[0]}:{uids[5]}"
    _, untagged = back.ok(f"SELECT INBOX (QRESYNC ({validity} {seen} {known}))")
    assert b"* 5 EXISTS\r\n" in untagged
    assert f"* VANISHED (EARLIER) {uids[2]},{uids[4]}\r\n".encode() in untagged
    changes = fetched(untagged)
    assert set(changes) == {2, 3, 5}
    assert re.fullmatch(rf"UID {uids[1]} FLAGS \(\\Seen\) MODSEQ \(\d+\)", changes[2])
    assert changes[3].startswith(f"UID {uids[3]} FLAGS (\\Answered)")
    assert changes[5].startswith(f"UID {new} FLAGS (\\Recent)")
    now = highestmodseq(untagged)
    assert now > seen
    # The same answer by UID FETCH; nothing since `now`.
    _, untagged = back.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {seen} VANISHED)")
    assert untagged[0] == f"* VANISHED (EARLIER) {uids[2]},{uids[4]}\r\n".encode()
    assert set(fetched(untagged)) == {2, 3, 5}
    _, untagged = back.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {now} VANISHED)")
    assert untagged == []
    # Another UIDVALIDITY: a plain SELECT, nothing more (RFC 7162 3.2.5.1).
    _, untagged = back.ok(f"SELECT INBOX (QRESYNC ({validity + 1} {seen}))")
    assert untagged[0] == b"* OK [CLOSED] previous mailbox closed\r\n"
    assert not fetched(untagged) and not any(b"VANISHED" in u for u in untagged)


def test_qresync_sessions_hear_vanished_instead_of_expunge(imapd):
    uids = deliver(imapd, 5)
    watcher, changer = Client(imapd.port("imap")), Client(imapd.port("imap"))
    for c in (watcher, changer):
        c.login()
        c.ok("ENABLE QRESYNC")
        c.ok("SELECT INBOX")
    changer.ok("STORE 1,2,4 +FLAGS (\\Deleted)")
    _, untagged = changer.ok("EXPUNGE")
    assert untagged[0] == f"* VANISHED {uids[0]}:{uids[1]},{uids[3]}\r\n".encode()
    _, untagged = watcher.ok("NOOP")
    assert untagged[0] == f"* VANISHED {uids[0]}:{uids[1]},{uids[3]}\r\n".encode()
    assert not any(b"EXPUNGE" in u for u in untagged)
    _, untagged = watcher.ok("FETCH 1:* (UID)")
    assert fetched(untagged) == {1: f"UID {uids[2]}", 2: f"UID {uids[4]}"}


def test_recent_goes_to_the_first_session_to_hear_of_a_message(imapd):
    deliver(imapd, 2)
    first, second = Client(imapd.port("imap")), Client(imapd.port("imap"))
    for c in (first, second):
        c.login()
    # EXAMINE looks without taking (RFC 3501 2.3.2), SELECT takes.
    assert b"* 2 RECENT\r\n" in first.ok("EXAMINE INBOX")[1]
    assert b"* 2 RECENT\r\n" in first.ok("SELECT INBOX")[1]
    _, untagged = first.ok("FETCH 1 (FLAGS)")
    assert fetched(untagged) == {1: "FLAGS (\\Recent)"}
    assert b"* 0 RECENT\r\n" in second.ok("SELECT INBOX")[1]
    deliver(imapd)
    _, untagged = second.ok("NOOP")
    assert untagged[:2] == [b"* 3 EXISTS\r\n", b"* 1 RECENT\r\n"]
    assert fetched(second.ok("FETCH 1:3 (FLAGS)")[1]) == {
        1: "FLAGS ()", 2: "FLAGS ()", 3: "FLAGS (\\Recent)"}
    _, untagged = first.ok("NOOP")
    assert untagged[:2] == [b"* 3 EXISTS\r\n", b"* 2 RECENT\r\n"]
    assert fetched(first.ok("FETCH 3 (FLAGS)")[1]) == {3: "FLAGS ()"}


# keywords in FLAGS and PERMANENTFLAGS

SYSTEM = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"


def flag_lines(untagged):
    """The FLAGS and PERMANENTFLAGS responses among `untagged`, as text."""
    return [line.decode().rstrip() for line in untagged
            if line.startswith((b"* FLAGS", b"* OK [PERMANENTFLAGS"))]


def announced(keywords):
    """What a session is told when its mailbox's keywords are `keywords`."""
    flags = " ".join([SYSTEM, *keywords])
    return [f"* FLAGS ({flags})",
            f"* OK [PERMANENTFLAGS ({flags} \\*)] flags that can be changed"]


def test_keywords_are_announced_at_select_and_when_new_to_each_session(imapd):
    # RFC 3501 7.2.6 and 7.1: FLAGS and PERMANENTFLAGS list the mailbox's
    # keywords, and FLAGS comes again, before the FETCH that needs it.
    deliver(imapd, 2)
    setter, watcher = Client(imapd.port("imap")), Client(imapd.port("imap"))
    for c in (setter, watcher):
        c.login()
        assert flag_lines(c.ok("SELECT INBOX")[1]) == announced([])
    _, untagged = setter.ok("STORE 1 +FLAGS ($Work)")
    assert [line.decode().rstrip() for line in untagged] == announced(["$Work"]) + [
        "* 1 FETCH (FLAGS (\\Recent $Work))"]
    assert flag_lines(setter.ok("STORE 2 +FLAGS.SILENT ($Work)")[1]) == []
    _, untagged = watcher.ok("NOOP")
    assert flag_lines(untagged[:2]) == announced(["$Work"])
    assert fetched(untagged) == {1: "UID 1 FLAGS ($Work)", 2: "UID 2 FLAGS ($Work)"}
    assert flag_lines(watcher.ok("NOOP")[1]) == []
    # A message APPENDed with a new keyword: both sessions hear of it.
    message = b"Subject: later\r\n\r\nbody\r\n"
    tagged, untagged = setter.command(f"APPEND INBOX ($Later) {{{len(message)}+}}\r\n"
                                      f"{message.decode()}")
    assert tagged.startswith(b"t1 OK") and b"* 3 EXISTS\r\n" in untagged
    assert flag_lines(untagged) == announced(["$Work", "$Later"])
    assert flag_lines(watcher.ok("NOOP")[1]) == announced(["$Work", "$Later"])
    # Keywords no message has any more stay in the list.
    setter.ok("STORE 1:* -FLAGS ($Work $Later)")
    late = Client(imapd.port("imap"))
    late.login()
    assert flag_lines(late.ok("SELECT INBOX")[1]) == announced(["$Work", "$Later"])
    assert flag_lines(late.ok("EXAMINE INBOX")[1]) == [
        f"* FLAGS ({SYSTEM} $Work $Later)",
        "* OK [PERMANENTFLAGS ()] no permanent flags permitted"]


def test_a_full_keyword_list_refuses_new_keywords_and_says_so(imapd):
    # RFC 3501 7.1: without \* in PERMANENTFLAGS no new keyword can be made.
    deliver(imapd)
    client = Client(imapd.port("imap"))
    client.login()
    client.ok("SELECT INBOX")
    many = [f"k{n}" for n in range(MAX_KEYWORDS)]
    _, untagged = client.ok(f"STORE 1 +FLAGS ({' '.join(many)})")
    assert flag_lines(untagged)[1].startswith("* OK [PERMANENTFLAGS (")
    assert "\\*" not in flag_lines(untagged)[1]
    tagged, untagged = client.command("STORE 1 FLAGS (\\Seen one-more)")
    assert tagged.startswith(b"t1 NO [LIMIT]") and untagged == []
    assert fetched(client.ok("FETCH 1 (FLAGS)")[1])[1].startswith("FLAGS (\\Recent k0 k1 ")
    client.ok("STORE 1 FLAGS (k1)")


# UNAUTHENTICATE, COMPRESS


def test_unauthenticate_returns_to_the_state_before_login(imapd):
    deliver(imapd)
    client = Client(imapd.port("imap"))
    client.login()
    client.ok("ENABLE CONDSTORE")
    client.ok("SELECT INBOX")
    client.ok("STORE 1 +FLAGS (\\Deleted)")
    client.ok("UNAUTHENTICATE")
    assert client.command("SELECT INBOX")[0].startswith(b"t1 BAD")
    assert b"COMPRESS=DEFLATE" not in capabilities(client)
    client.login()
    client.ok("SELECT INBOX")           # not expunged on the way out
    _, untagged = client.ok("STORE 1 +FLAGS (\\Seen)")
    assert fetched(untagged) == {1: "FLAGS (\\Deleted \\Seen)"}     # no MODSEQ now
    assert "reason=unauthenticate" in imapd.log("imapd")


@pytest.mark.parametrize("port", ["imap", "imaps"])
def test_compress_deflates_both_ways_plain_and_over_tls(imapd, port):
    deliver(imapd, 2)
    context = imapd.client_tls_context() if port == "imaps" else None
    client = Client(imapd.port(port), context)
    assert client.command("COMPRESS DEFLATE")[0].startswith(b"t1 BAD")   # before login
    client.login()
    assert client.command("COMPRESS LZW")[0].startswith(b"t1 BAD")
    tagged, _ = client.ok("COMPRESS DEFLATE")
    client.inflate = zlib.decompressobj(-15)
    client.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    client.inflate.decompress(client.data)      # nothing came after the OK yet
    assert client.data == b""
    _, untagged = client.ok("SELECT INBOX")
    assert b"* 2 EXISTS\r\n" in untagged
    _, untagged = client.ok("FETCH 1:2 (BODY[])")
    assert untagged[0].endswith(b"{%d}\r\n" % len(MESSAGE) + MESSAGE + b")\r\n")
    tagged, _ = client.command("COMPRESS DEFLATE")
    assert tagged.startswith(b"t1 NO [COMPRESSIONACTIVE]")
    client.ok("LOGOUT")


# names, IMAP4rev2


def test_utf8_accept_names_folders_in_utf8(imapd):
    with maildir.Store(imapd.maildir(USER)) as store:
        store.create_folder("Café")
    deliver(imapd, folder="Café")
    client = Client(imapd.port("imap"))
    client.login()
    _, untagged = client.ok('LIST "" "Caf*"')
    assert untagged == [b'* LIST (\\HasNoChildren) "/" "Caf&AOk-"\r\n']
    client.ok("ENABLE UTF8=ACCEPT")
    _, untagged = client.ok('LIST "" "Caf*"')
    assert untagged == ['* LIST (\\HasNoChildren) "/" "Café"\r\n'.encode()]
    _, untagged = client.ok('SELECT "Café"')
    assert b"* 1 EXISTS\r\n" in untagged


def test_imap4rev2_session_beside_an_imap4rev1_one(inst):
    inst.start("imapd")
    deliver(inst, 2)
    client = Client(inst.port("imap"))
    assert b"IMAP4rev2" in client.greeting
    client.login()
    _, untagged = client.ok("ENABLE IMAP4rev2")
    assert untagged == [b"* ENABLED IMAP4rev2\r\n"]
    _, untagged = client.ok("SELECT inbox")
    assert b'* LIST () "/" "INBOX"\r\n' in untagged
    assert not any(b"RECENT" in u or b"[UNSEEN" in u for u in untagged)
    assert b"* 2 EXISTS\r\n" in untagged
    # An IMAP4rev1 client of the same server is not changed.
    old = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=10)
    old.login(USER, PASSWORD)
    old.select("INBOX")
    assert old.untagged_responses.get("RECENT") == [b"0"]
    old.logout()


def test_imap4rev2_switched_off_is_neither_advertised_nor_enabled(inst):
    # A key of [imapd], which is not the file's last table.
    inst.config.write_text(inst.config.read_text().replace(
        "[imapd]\n", "[imapd]\nimap4rev2 = false\n", 1))
    inst.start("imapd")
    client = Client(inst.port("imap"))
    assert b"IMAP4rev1" in client.greeting and b"IMAP4rev2" not in client.greeting
    client.login()
    # RFC 5161 3.1: a capability the server does not list enables nothing.
    _, untagged = client.ok("ENABLE IMAP4rev2")
    assert untagged == [b"* ENABLED\r\n"]
    _, untagged = client.ok("SELECT INBOX")
    assert b"* 0 RECENT\r\n" in untagged and not any(b"* LIST" in u for u in untagged)


def test_status_recent_appendlimit_and_highestmodseq(imapd):
    deliver(imapd, 3)
    client = Client(imapd.port("imap"))
    client.login()
    _, untagged = client.ok("STATUS INBOX (RECENT APPENDLIMIT)")
    assert untagged == [b'* STATUS "INBOX" (RECENT 3 APPENDLIMIT 67108864)\r\n']
    client.ok("SELECT INBOX")           # this session takes the three as \Recent
    _, untagged = client.ok("STATUS INBOX (RECENT)")
    assert untagged == [b'* STATUS "INBOX" (RECENT 0)\r\n']
    _, untagged = client.ok("STORE 1 +FLAGS (\\Flagged)")
    assert "MODSEQ" not in fetched(untagged)[1]
    # RFC 7162 3.1: STATUS (HIGHESTMODSEQ) turns CONDSTORE on.
    _, untagged = client.ok("STATUS INBOX (HIGHESTMODSEQ)")
    assert highestmodseq(untagged)
    _, untagged = client.ok("STORE 1 +FLAGS (\\Seen)")
    assert re.search(r"MODSEQ \(\d+\)", fetched(untagged)[1])


def test_search_modseq(imapd):
    deliver(imapd, 3)
    client = Client(imapd.port("imap"))
    client.login()
    client.ok("SELECT INBOX")
    client.ok("STORE 2 +FLAGS (\\Flagged)")
    client.ok("STORE 3 +FLAGS (\\Seen)")
    # RFC 7162 3.1: SEARCH MODSEQ turns CONDSTORE on; 3.1.5: the answer ends
    # with the highest MODSEQ of what it found.
    _, untagged = client.ok("SEARCH MODSEQ 0")
    assert highestmodseq(untagged)
    modseqs = {seq: int(re.search(r"MODSEQ \((\d+)\)", text).group(1))
               for seq, text in fetched(client.ok("FETCH 1:3 (MODSEQ)")[1]).items()}
    assert untagged[-1] == b"* SEARCH 1 2 3 (MODSEQ %d)\r\n" % max(modseqs.values())
    _, untagged = client.ok(f"SEARCH MODSEQ {modseqs[2]}")
    assert untagged == [b"* SEARCH 2 3 (MODSEQ %d)\r\n" % modseqs[3]]
    # A flag's own entry is read and ignored: messages have one modseq each.
    _, untagged = client.ok(f'SEARCH MODSEQ "/flags/\\\\Seen" all {modseqs[3]}')
    assert untagged == [b"* SEARCH 3 (MODSEQ %d)\r\n" % modseqs[3]]
    assert client.command('SEARCH MODSEQ "/flags/\\\\Seen" mine 1')[0].startswith(
        b"t1 BAD")
    _, untagged = client.ok(f"SEARCH MODSEQ {modseqs[3] + 1}")
    assert untagged == [b"* SEARCH\r\n"]
