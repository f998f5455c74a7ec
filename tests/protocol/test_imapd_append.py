"""imapd's APPEND (MULTIAPPEND, APPENDLIMIT, LITERAL+, BINARY, CATENATE), COPY, MOVE,
UIDPLUS and QUOTA on real sockets: imaplib where it can say it, raw dialogs where it cannot."""

import imaplib
import os
import re

import pytest

from mailsuite.core import maildir
from test_imapd import Raw, set_config

USER = "demo@example.test"
PASSWORD = "secret-password"
MESSAGE = (b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
           b"Subject: saved\r\n\r\nA message a client saves.\r\n")
DATE = '"17-Jul-1996 02:44:25 -0700"'
LIMIT = 3 << 20             # the instance's APPENDLIMIT


@pytest.fixture
def inst(instance):
    set_config(instance, plaintext_loopback=True, max_message_size=LIMIT)
    instance.add_user(USER, PASSWORD)
    with maildir.Store(instance.maildir(USER)) as store:
        store.create_folder("Archive")
    instance.start("imapd")
    yield instance
    # NO [SERVERBUG] answers would show up here as logged tracebacks.
    assert "Traceback" not in instance.log("imapd")


def client(inst, select=None):
    c = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=30)
    c.login(USER, PASSWORD)
    if select:
        assert c.select(select)[0] == "OK"
    return c


def raw(inst, select=None):
    r = Raw(inst.port("imap"))
    r.login()
    if select:
        assert r.command(f"SELECT {select}", "s")[0].startswith(b"s OK")
    return r


def code(response):
    """The response code of a tagged or untagged line: 'COPYUID 1 2 3'."""
    found = re.search(rb"\[([^]]*)\]", response)
    return found.group(1).decode() if found else None


def uidvalidity(inst, folder):
    with maildir.Store(inst.maildir(USER)) as store:
        return store.folder(folder).state().uidvalidity


def contents(inst, folder):
    """{uid: (flags, internal date, bytes)} of a folder, read from the store."""
    with maildir.Store(inst.maildir(USER)) as store:
        f = store.folder(folder)
        return {uid: (r.flags, r.internaldate, f.read(r))
                for uid, r in sorted(f.records(f.uids()).items())}


def tmp_files(inst):
    root = inst.maildir(USER)
    return [name for path in [root] + list(root.glob(".*"))
            if (path / "tmp").is_dir() for name in os.listdir(path / "tmp")]


# APPEND

def test_append_keeps_flags_and_date_and_says_where(inst):
    c = client(inst)
    typ, data = c.append("Archive", r"(\Seen $Work)", DATE, MESSAGE)
    assert typ == "OK"
    assert code(data[0]) == f"APPENDUID {uidvalidity(inst, 'Archive')} 1"
    assert contents(inst, "Archive") == {
        1: ({"\\Seen", "$Work"}, 837596665.0, MESSAGE)}
    c.select("Archive")
    _, data = c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert b'INTERNALDATE "17-Jul-1996 09:44:25 +0000"' in data[0][0]
    assert data[0][1] == MESSAGE


def test_append_never_makes_a_mailbox(inst):
    c = client(inst)
    typ, data = c.append("Nowhere", None, None, MESSAGE)
    assert (typ, code(data[0])) == ("NO", "TRYCREATE")
    assert not (inst.maildir(USER) / ".Nowhere").exists()


def test_append_to_the_selected_mailbox_is_reported_at_once(inst):
    r = raw(inst, "INBOX")
    r.send(b"t1 APPEND INBOX {%d}\r\n" % len(MESSAGE))
    assert r.line().startswith(b"+")
    r.send(MESSAGE + b"\r\n")
    tagged, untagged = r.until("t1")
    assert tagged.startswith(b"t1 OK [APPENDUID ")
    assert b"* 1 EXISTS\r\n" in untagged


def multiappend(r, messages, tag="t1"):
    """Send APPEND Archive with [(options, data)] over synchronizing literals;
    returns the tagged answer as soon as one comes."""
    r.send(f"{tag} APPEND Archive".encode())
    for options, data in messages:
        r.send(b" " + options + b" {%d}\r\n" % len(data) if options
               else b" {%d}\r\n" % len(data))
        answer = r.line()
        if not answer.startswith(b"+"):
            return answer
        r.send(data)
    r.send(b"\r\n")
    return r.until(tag)[0]


def test_multiappend_adds_every_message_at_once(inst):
    r = raw(inst)
    tagged = multiappend(r, [(rb"(\Flagged)", MESSAGE), (DATE.encode(), b"two\r\n"),
                             (b"", b"three\r\n")])
    assert code(tagged) == f"APPENDUID {uidvalidity(inst, 'Archive')} 1:3"
    found = contents(inst, "Archive")
    assert [data for _, _, data in found.values()] == [MESSAGE, b"two\r\n",
                                                        b"three\r\n"]
    assert found[1][0] == {"\\Flagged"} and found[2][1] == 837596665.0


def test_multiappend_is_all_or_nothing(inst):
    r = raw(inst)
    tagged = multiappend(r, [(b"", MESSAGE), (b'"31-Feb-2024 00:00:00 +0000"', b"x")])
    assert tagged.startswith(b"t1 BAD")
    inst.mailctl("user", "quota", USER, str(len(MESSAGE) + 5))
    tagged = multiappend(r, [(b"", MESSAGE), (b"", b"0123456789")], tag="t2")
    assert tagged.startswith(b"t2 NO [OVERQUOTA]")
    assert contents(inst, "Archive") == {}
    assert tmp_files(inst) == []
    assert r.command("NOOP", "t3")[0].startswith(b"t3 OK")


def test_a_big_message_is_saved_whole(inst):
    big = MESSAGE + b"".join(b"line %07d of a long message\r\n" % n
                             for n in range(80000))        # 2.6 MB, many pieces
    c = client(inst)
    typ, data = c.append("INBOX", None, None, big)
    assert typ == "OK"
    assert contents(inst, "INBOX")[1][2] == big
    assert tmp_files(inst) == []
    c.select("INBOX")
    _, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"RFC822.SIZE %d" % len(big) in data[0][0]


def test_appendlimit_refuses_before_the_message_is_sent(inst):
    r = raw(inst)
    _, untagged = r.command("CAPABILITY")
    assert f"APPENDLIMIT={LIMIT}".encode() in untagged[0].split()
    r.send(b"t1 APPEND INBOX {%d}\r\n" % (LIMIT + 1))
    # RFC 7889: NO [TOOBIG] instead of "+": the client never sends the message.
    assert r.line().startswith(b"t1 NO [TOOBIG]")
    assert r.command("NOOP", "t2")[0].startswith(b"t2 OK")


def test_a_big_message_into_a_missing_mailbox_is_never_sent(inst):
    r = raw(inst)
    r.send(b"t1 APPEND Nowhere (\\Seen) {%d}\r\n" % (2 << 20))
    assert r.line().startswith(b"t1 NO [TRYCREATE]")
    inst.mailctl("user", "quota", USER, "1M")
    r.send(b"t2 APPEND INBOX {%d}\r\n" % (2 << 20))
    assert r.line().startswith(b"t2 NO [OVERQUOTA]")
    assert r.command("NOOP", "t3")[0].startswith(b"t3 OK")


def test_non_synchronizing_literals_of_any_size(inst):
    # RFC 7888 4 (LITERAL+): any size; a big message goes to a file as it comes.
    r = raw(inst)
    _, untagged = r.command("CAPABILITY")
    assert b"LITERAL+" in untagged[0] and b"LITERAL-" not in untagged[0]
    small = MESSAGE + b"x" * (4097 - len(MESSAGE))
    tagged, _ = r.command(b"APPEND INBOX {4097+}\r\n" + small)
    assert tagged.startswith(b"t1 OK [APPENDUID ")
    big = MESSAGE + b"".join(b"line %07d of a long message\r\n" % n
                             for n in range(80000))
    tagged, _ = r.command(b"APPEND INBOX (\\Seen) {%d+}\r\n" % len(big) + big, "t2")
    assert tagged.startswith(b"t2 OK [APPENDUID ")
    assert [data for _, _, data in contents(inst, "INBOX").values()] == [small, big]
    assert tmp_files(inst) == []


def test_a_refused_non_synchronizing_literal_is_read_and_dropped(inst):
    # Over APPENDLIMIT, into a full mailbox: refused, the bytes the client sent
    # anyway are read and dropped, nothing is stored and the session goes on.
    r = raw(inst)
    over = b"y" * (LIMIT + 1)
    tagged, _ = r.command(b"APPEND INBOX {%d+}\r\n" % len(over) + over, "t1")
    assert tagged.startswith(b"t1 NO [TOOBIG]")
    inst.mailctl("user", "quota", USER, "1M")
    body = MESSAGE + b"z" * (2 << 20)
    tagged, _ = r.command(b"APPEND INBOX {%d+}\r\n" % len(body) + body, "t2")
    assert tagged.startswith(b"t2 NO [OVERQUOTA]")
    assert r.command("NOOP", "t3")[0].startswith(b"t3 OK")
    assert contents(inst, "INBOX") == {} and tmp_files(inst) == []


UTF8_MESSAGE = ("From: Zoë <zoe@exämple.org>\r\nTo: demo@example.test\r\n"
                "Subject: Grüße\r\n\r\nBody.\r\n").encode()


def append_literal8(r, prefix, data, tag):
    """APPEND INBOX <prefix>~{n}: the literal8 of RFC 3516 4.2."""
    r.send(b"%s APPEND INBOX %s~{%d}\r\n" % (tag.encode(), prefix, len(data)))
    answer = r.line()
    if not answer.startswith(b"+"):
        return answer
    r.send(data + (b")" if prefix.endswith(b"(") else b"") + b"\r\n")
    return r.until(tag)[0]


def test_append_takes_a_literal8(inst):
    # RFC 3516 4.2: APPEND's message may be a literal8 where BINARY is offered.
    r = raw(inst)
    assert append_literal8(r, b"(\\Seen) ", MESSAGE, "t1").startswith(b"t1 OK [APPENDUID")
    assert contents(inst, "INBOX")[1][2] == MESSAGE


BINARY_MESSAGE = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
                  b"Content-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: binary\r\n\r\n\0-\xe4\n\r\n\n")


def test_a_binary_part_comes_back_exactly_and_body_never_carries_nul(inst):
    # RFC 3516 4.4: the part is stored base64-encoded; BINARY gives back its
    # octets (bare LFs and NUL included), BODY the base64 text (RFC 9051 4.3).
    r = raw(inst)
    assert append_literal8(r, b"", BINARY_MESSAGE, "t1").startswith(b"t1 OK")
    assert r.command("SELECT INBOX", "t2")[0].startswith(b"t2 OK")
    tagged, untagged = r.command("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])", "t3")
    assert tagged.startswith(b"t3 OK")
    assert untagged == [b"* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n"
                        b"\0-\xe4\n\r\n\n)\r\n"]
    tagged, untagged = r.command("FETCH 1 (BODY.PEEK[1])", "t4")
    assert untagged == [b"* 1 FETCH (BODY[1] {12}\r\nAC3kCg0KCg==)\r\n"]
    assert b"Content-Transfer-Encoding: base64\r\n" in contents(inst, "INBOX")[1][2]


def test_a_big_binary_part_comes_back_exactly(inst):
    # Past the in-memory size the literal8 goes to a file as it came, and is
    # stored from there with its binary part base64-encoded: no bare LF changed.
    octets = bytes(range(256)) * 2048 + b"\n\0\n"
    big = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nText.\r\n"
           b"--b\r\nContent-Transfer-Encoding: binary\r\n\r\n" + octets + b"\r\n--b--\r\n")
    r = raw(inst, "INBOX")
    assert append_literal8(r, b"", big, "t1").startswith(b"t1 OK")
    tagged, untagged = r.command("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[1])", "t2")
    assert untagged[-1] == (b"* 1 FETCH (BINARY.SIZE[2] %d BINARY[1] {5}\r\nText.)\r\n"
                            % len(octets))
    _, untagged = r.command("FETCH 1 (BINARY.PEEK[2])", "t3")
    assert untagged[0].endswith(b"~{%d}\r\n%s)\r\n" % (len(octets), octets))
    assert b"\0" not in contents(inst, "INBOX")[1][2] and tmp_files(inst) == []


def test_utf8_append_needs_utf8_accept_enabled(inst):
    # RFC 6855 4: the UTF8 data extension, once the client enabled UTF8=ACCEPT.
    r = raw(inst)
    assert append_literal8(r, b"UTF8 (", UTF8_MESSAGE, "t1").startswith(b"t1 BAD")
    assert contents(inst, "INBOX") == {}
    assert r.command("ENABLE UTF8=ACCEPT", "t2")[0].startswith(b"t2 OK")
    tagged = append_literal8(r, b"(\\Flagged) UTF8 (", UTF8_MESSAGE, "t3")
    assert tagged.startswith(b"t3 OK [APPENDUID")
    flags, _, data = contents(inst, "INBOX")[1]
    assert data == UTF8_MESSAGE and flags == {"\\Flagged"}


def test_a_big_utf8_append_goes_to_a_file(inst):
    # Past the in-memory size, the literal8 inside UTF8 ( ) is streamed as any
    # APPEND message is: the whole message arrives, nothing is left in tmp/.
    big = UTF8_MESSAGE + b"".join(b"line %07d, \xc3\xa9t\xc3\xa9\r\n" % n
                                  for n in range(40000))
    r = raw(inst)
    assert r.command("ENABLE UTF8=ACCEPT", "t1")[0].startswith(b"t1 OK")
    assert append_literal8(r, b"UTF8 (", big, "t2").startswith(b"t2 OK [APPENDUID")
    assert contents(inst, "INBOX")[1][2] == big
    assert tmp_files(inst) == []


# CATENATE (RFC 4469)

def text(data):
    """A cat-part TEXT literal, non-synchronizing (LITERAL+, RFC 7888)."""
    return b"TEXT {%d+}\r\n%s" % (len(data), data)


def test_catenate_joins_text_and_urls_of_the_users_messages(inst):
    r = raw(inst)
    assert b"CATENATE" in r.command("CAPABILITY", "t0")[1][0].split()
    assert r.command(b"APPEND INBOX CATENATE (" + text(MESSAGE) + b")",
                     "t1")[0].startswith(b"t1 OK [APPENDUID")
    uidv = uidvalidity(inst, "INBOX")
    header = MESSAGE[:MESSAGE.index(b"\r\n\r\n") + 4]
    parts = (b'URL "/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=HEADER" ' % uidv
             + text(b"New body.\r\n") + b' URL "/INBOX/;UID=1/;SECTION=TEXT"')
    tagged, _ = r.command(b"APPEND Archive (\\Flagged) CATENATE (" + parts + b") "
                          b'CATENATE (URL "/INBOX/;UID=1")', "t2")
    assert tagged.startswith(b"t2 OK [APPENDUID")
    saved = contents(inst, "Archive")
    assert saved[1][2] == header + b"New body.\r\nA message a client saves.\r\n"
    assert saved[1][0] == {"\\Flagged"} and saved[2][2] == MESSAGE
    # RFC 4469 3: a URL is fetched as BODY.PEEK would: no \Seen set.
    assert contents(inst, "INBOX")[1][0] == frozenset()


def test_a_catenate_with_a_bad_url_appends_nothing(inst):
    r = raw(inst)
    r.command(b"APPEND INBOX CATENATE (" + text(MESSAGE) + b")", "t1")
    bad = b"/INBOX;UIDVALIDITY=12345/;UID=1/;SECTION=HEADER"
    # With MULTIAPPEND, the good message before it is not added either.
    tagged, _ = r.command(b"APPEND Archive CATENATE (" + text(b"a: 1\r\n\r\n") + b") "
                          b"CATENATE (" + text(b"b: 2\r\n") + b' URL "' + bad + b'" '
                          + text(b"\r\nbody\r\n") + b")", "t2")
    assert tagged == b"t2 NO [BADURL " + bad + b"] invalid URL in CATENATE\r\n"
    for url in (b"/INBOX/;UID=9", b"/Nowhere/;UID=1", b"/INBOX/;UID=1/;URLAUTH=x",
                b"imap://someone.else@localhost/INBOX/;UID=1"):
        tagged, _ = r.command(b'APPEND Archive CATENATE (URL "' + url + b'")', "t3")
        assert code(tagged) == "BADURL " + url.decode()
    # A missing mailbox is TRYCREATE, whatever the URLs.
    tagged, _ = r.command(b'APPEND Nowhere CATENATE (URL "' + bad + b'")', "t4")
    assert code(tagged) == "TRYCREATE"
    assert contents(inst, "Archive") == {} and tmp_files(inst) == []
    assert r.command("NOOP", "t5")[0].startswith(b"t5 OK")


def test_a_catenated_message_past_the_limit_is_toobig(inst):
    r = raw(inst)
    r.command(b"APPEND INBOX CATENATE (" + text(MESSAGE) + b")", "t1")
    big = b"x" * (LIMIT - len(MESSAGE) + 10)
    # The TEXT parts alone are over: refused before any URL is fetched.
    tagged, _ = r.command(b"APPEND Archive CATENATE (" + text(b"a" * LIMIT) + b" "
                          + text(b"b" * 100) + b")", "t2")
    assert code(tagged) == "TOOBIG"
    # Over only once a URL is fetched: refused as the message is assembled.
    tagged, _ = r.command(b'APPEND Archive CATENATE (URL "/INBOX/;UID=1" '
                          + text(big) + b")", "t3")
    assert code(tagged) == "TOOBIG"
    assert contents(inst, "Archive") == {} and tmp_files(inst) == []


# COPY, MOVE, UID EXPUNGE

def fill_inbox(inst, count=3):
    c = client(inst)
    for n in range(count):
        c.append("INBOX", r"(\Seen)" if n == 1 else None, DATE, MESSAGE + b"%d\r\n" % n)
    c.select("INBOX")
    return c


def test_copy_says_where_the_copies_are(inst):
    c = fill_inbox(inst)
    typ, data = c.copy("2:3", "Archive")
    assert typ == "OK"
    assert code(data[0]) == f"COPYUID {uidvalidity(inst, 'Archive')} 2:3 1:2"
    inbox, archive = contents(inst, "INBOX"), contents(inst, "Archive")
    assert archive == {1: inbox[2], 2: inbox[3]}
    assert archive[1][0] == {"\\Seen"}
    r = raw(inst, "INBOX")
    tagged, _ = r.command("UID COPY 3,1 Archive")
    assert code(tagged) == f"COPYUID {uidvalidity(inst, 'Archive')} 1,3 3:4"


def test_copy_into_a_missing_mailbox_is_trycreate(inst):
    c = fill_inbox(inst, 1)
    typ, data = c.copy("1", "Nowhere")
    assert (typ, code(data[0])) == ("NO", "TRYCREATE")
    r = raw(inst, "INBOX")
    assert r.command("UID COPY 1 Nowhere")[0].startswith(b"t1 NO [TRYCREATE]")


def test_move_reports_copyuid_then_the_expunges(inst):
    fill_inbox(inst)
    r = raw(inst, "INBOX")
    tagged, untagged = r.command("MOVE 1:2 Archive")
    assert tagged.startswith(b"t1 OK")
    v = uidvalidity(inst, "Archive")
    assert untagged == [f"* OK [COPYUID {v} 1:2 1:2] moved\r\n".encode(),
                        b"* 2 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"]
    tagged, untagged = r.command("UID MOVE 3 Archive", "t2")
    assert untagged == [f"* OK [COPYUID {v} 3 3] moved\r\n".encode(),
                        b"* 1 EXPUNGE\r\n"]
    assert list(contents(inst, "INBOX")) == [] and list(contents(inst, "Archive")) \
        == [1, 2, 3]


def test_move_is_seen_by_the_other_sessions(inst):
    fill_inbox(inst)
    mover = raw(inst, "INBOX")
    watcher = raw(inst, "INBOX")
    idler = raw(inst, "Archive")
    idler.send(b"i IDLE\r\n")
    assert idler.line().startswith(b"+")
    assert mover.command("UID MOVE 2 Archive")[0].startswith(b"t1 OK")
    # The session in IDLE in the target hears of the new message by itself.
    assert idler.line() == b"* 1 EXISTS\r\n"
    idler.send(b"DONE\r\n")
    assert idler.until("i")[0].startswith(b"i OK")
    _, untagged = watcher.command("NOOP")
    assert untagged == [b"* 2 EXPUNGE\r\n"]
    _, untagged = watcher.command("FETCH 1:* (UID)")
    assert untagged == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 3)\r\n"]


def test_move_in_a_read_only_mailbox_is_refused(inst):
    fill_inbox(inst, 1)
    r = raw(inst)
    assert r.command("EXAMINE INBOX")[0].startswith(b"t1 OK")
    assert r.command("MOVE 1 Archive")[0].startswith(b"t1 NO [READ-ONLY]")
    assert r.command("COPY 1 Archive")[0].startswith(b"t1 OK [COPYUID ")
    assert list(contents(inst, "INBOX")) == [1]


def test_uid_expunge_removes_only_the_set(inst):
    c = fill_inbox(inst)
    c.store("1:3", "+FLAGS", r"(\Deleted)")
    typ, data = c.uid("EXPUNGE", "1:2")
    assert typ == "OK"
    assert c.untagged_responses.get("EXPUNGE") == [b"2", b"1"]
    assert list(contents(inst, "INBOX")) == [3]


# QUOTA

def test_quota_root_and_usage(inst):
    c = client(inst)
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK" and data == [[b'"INBOX"'], [None]]      # no quota, no root
    assert c.getquota('""')[0] == "NO"
    inst.mailctl("user", "quota", USER, "10K")
    c.append("INBOX", None, None, MESSAGE * 40)
    # RFC 9208 5.1: units of 1024 octets, the usage rounded up.
    usage = b'"" (STORAGE %d 10)' % -(-len(MESSAGE * 40) // 1024)
    typ, data = c.getquotaroot("Archive")
    assert data == [[b'"Archive" ""'], [usage]]
    assert c.getquota('""') == ("OK", [usage])
    assert c.getquota('"other"')[0] == "NO"
    assert c.getquotaroot("Nowhere")[0] == "NO"


def test_append_and_copy_past_the_quota_are_refused(inst):
    c = fill_inbox(inst)
    with maildir.Store(inst.maildir(USER)) as store:
        used = store.usage()
    inst.mailctl("user", "quota", USER, str(used + len(MESSAGE) + 3))   # one copy
    typ, data = c.copy("1:2", "Archive")
    assert (typ, code(data[0])) == ("NO", "OVERQUOTA")
    typ, data = c.append("Archive", None, None, MESSAGE * 2)
    assert (typ, code(data[0])) == ("NO", "OVERQUOTA")
    assert contents(inst, "Archive") == {}
    assert c.copy("1", "Archive")[0] == "OK"
    # Moving takes no more room.
    assert c.uid("MOVE", "2:3", "Archive")[0] == "OK"
    assert list(contents(inst, "Archive")) == [1, 2, 3]
    assert tmp_files(inst) == []
