"""imapd on real sockets: imaplib where it can say it, raw dialogs where it cannot."""

import base64
import imaplib
import re
import socket
import time

import pytest

from harness import connect, wait_for
from mailsuite.core import maildir, notify

USER = "demo@example.test"
PASSWORD = "secret-password"
MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"To: demo@example.test\r\n"
           b"Subject: hello there\r\n"
           b"X-Long: one\r\n two\r\n"
           b"\r\n"
           b"Body line one.\r\n"
           b"Caf\xc3\xa9 \xff bytes stay bytes.\r\n")


# helpers


@pytest.fixture
def inst(instance):
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    # NO [SERVERBUG] answers would show up here as logged tracebacks.
    assert "Traceback" not in instance.log("imapd")


def set_config(instance, **imapd):
    """Rewrite the [imapd] section of the instance's configuration."""
    text = instance.config.read_text()
    head, _, _ = text.partition("[imapd]")
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
             for k, v in imapd.items()]
    instance.config.write_text(head + "[imapd]\n" + "\n".join(lines) + "\n")


def deliver(instance, data=MESSAGE, flags=(), folder="INBOX", hint=False):
    with maildir.Store(instance.maildir(USER)) as store:
        uid = store.deliver(maildir.unique_base(), data, folder=folder, flags=flags)
    if hint:
        notify.send(instance.runtime / "imapd.notify", USER.encode())
    return uid


def create_folder(instance, name):
    with maildir.Store(instance.maildir(USER)) as store:
        store.create_folder(name)


def maildir_names(instance):
    root = instance.maildir(USER)
    return sorted(p.name for sub in ("new", "cur") for p in (root / sub).iterdir())


def imaps(instance, login=True):
    client = imaplib.IMAP4_SSL("127.0.0.1", instance.port("imaps"),
                               ssl_context=instance.client_tls_context(), timeout=10)
    if login:
        client.login(USER, PASSWORD)
    return client


def fetch_parts(data):
    """imaplib FETCH data -> [(header line, literal or None)]."""
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append((item[0], item[1]))
        elif item and item != b")":
            out.append((item, None))
    return out


class Raw:
    """A line-level IMAP client for what imaplib cannot say."""

    def __init__(self, port, context=None):
        self.sock = connect(port)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.file.readline()

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """One response, with any literals in it, as bytes."""
        data = self.line()
        while (match := re.search(rb"\{(\d+)\}\r\n\Z", data)):
            data += self.file.read(int(match.group(1))) + self.line()
        return data

    def command(self, text, tag="t1"):
        """Send a command; return (tagged line, [untagged responses])."""
        self.send(f"{tag} {text}\r\n".encode() if isinstance(text, str)
                  else tag.encode() + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            data = self.response()
            if not data:
                raise AssertionError(f"connection closed; got {untagged}")
            if data.startswith(tag.encode() + b" "):
                return data, untagged
            untagged.append(data)

    def login(self):
        tagged, _ = self.command(f"LOGIN {USER} {PASSWORD}", "login")
        assert tagged.startswith(b"login OK"), tagged

    def starttls(self, context):
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def close(self):
        self.sock.close()


# capabilities, TLS and login


def test_greeting_and_capabilities_on_plaintext(inst):
    raw = Raw(inst.port("imap"))
    assert raw.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    _, untagged = raw.command("CAPABILITY")
    caps = untagged[0].split()
    # The dev config lets loopback clients log in without TLS.
    for cap in (b"STARTTLS", b"AUTH=PLAIN", b"IDLE", b"LITERAL+", b"SASL-IR",
                b"UNSELECT", b"CHILDREN"):
        assert cap in caps
    assert b"LOGINDISABLED" not in caps


def test_login_over_imaps(inst):
    client = imaps(inst, login=False)
    assert "STARTTLS" not in client.capabilities
    typ, _ = client.login(USER, PASSWORD)
    assert typ == "OK"
    assert client.logout()[0] == "BYE"
    assert f"login: user={USER}" in inst.log("imapd")
    assert wait_for(lambda: f"logout: user={USER}" in inst.log("imapd"))


def test_bad_password_is_refused_after_a_delay(inst):
    client = imaps(inst, login=False)
    start = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(USER, "wrong")
    assert time.monotonic() - start >= 0.9
    with pytest.raises(imaplib.IMAP4.error):
        client.login("nobody@example.test", PASSWORD)
    assert "login failed: user=nobody@example.test" in inst.log("imapd")
    with pytest.raises(imaplib.IMAP4.abort, match="too many failed logins"):
        client.login(USER, "wrong again")


def test_plaintext_login_refused_before_starttls(instance):
    instance.add_user(USER, PASSWORD)
    set_config(instance, plaintext_loopback=False)
    instance.start("imapd")
    client = imaplib.IMAP4("127.0.0.1", instance.port("imap"), timeout=10)
    assert "LOGINDISABLED" in client.capabilities
    assert "AUTH=PLAIN" not in client.capabilities
    raw = Raw(instance.port("imap"))
    tagged, _ = raw.command(f"LOGIN {USER} {PASSWORD}")
    assert tagged.startswith(b"t1 NO [PRIVACYREQUIRED]")
    tagged, _ = raw.command("AUTHENTICATE PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHg=")
    assert tagged.startswith(b"t1 NO [PRIVACYREQUIRED]")
    client.starttls(ssl_context=instance.client_tls_context())
    assert "LOGINDISABLED" not in client.capabilities
    assert "AUTH=PLAIN" in client.capabilities
    assert client.login(USER, PASSWORD)[0] == "OK"


def test_starttls_then_login(inst):
    client = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=10)
    assert "STARTTLS" in client.capabilities
    client.starttls(ssl_context=inst.client_tls_context())
    assert "STARTTLS" not in client.capabilities
    assert client.login(USER, PASSWORD)[0] == "OK"


def test_starttls_discards_pipelined_plaintext(inst):
    raw = Raw(inst.port("imap"))
    raw.send(b"a STARTTLS\r\nb LOGIN demo@example.test secret-password\r\n")
    assert raw.line().startswith(b"a OK")
    raw.starttls(inst.client_tls_context())
    tagged, untagged = raw.command("NOOP", "c")
    assert tagged.startswith(b"c OK") and untagged == []
    # The pipelined LOGIN was never run: the session is still not authenticated.
    tagged, _ = raw.command("SELECT INBOX", "d")
    assert tagged.startswith(b"d BAD")


def test_authenticate_plain_with_initial_response(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    tagged, _ = raw.command("AUTHENTICATE PLAIN "
                            "AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldC1wYXNzd29yZA==")
    assert tagged.startswith(b"t1 OK")


def test_authenticate_plain_with_continuation(inst):
    client = imaps(inst, login=False)
    typ, _ = client.authenticate(
        "PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
    assert typ == "OK"
    client = imaps(inst, login=False)
    with pytest.raises(imaplib.IMAP4.error):
        client.authenticate("PLAIN", lambda _: f"\0{USER}\0nope".encode())


def test_login_with_literals(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.send(b"t1 LOGIN {17}\r\n")
    assert raw.line().startswith(b"+")
    raw.send(USER.encode() + b" {15+}\r\n" + PASSWORD.encode() + b"\r\n")
    assert raw.until("t1")[0].startswith(b"t1 OK")


def test_authenticate_login(inst):
    # draft-murchison-sasl-login: "Username:" and "Password:", each in base64.
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    _, untagged = raw.command("CAPABILITY")
    assert b"AUTH=LOGIN" in untagged[0].split()
    raw.send(b"t1 AUTHENTICATE LOGIN\r\n")
    assert raw.line() == b"+ VXNlcm5hbWU6\r\n"
    raw.send(base64.b64encode(USER.encode()) + b"\r\n")
    assert raw.line() == b"+ UGFzc3dvcmQ6\r\n"
    raw.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert raw.until("t1")[0].startswith(b"t1 OK")


def test_a_second_login_is_served_from_the_auth_cache(inst):
    imaps(inst).logout()
    imaps(inst).logout()
    logins = re.findall(r"login: user=demo@example.test .* cached=(\w+)",
                        inst.log("imapd"))
    assert logins == ["no", "yes"]


def test_a_disabled_account_cannot_log_in_even_from_the_cache(inst):
    imaps(inst).logout()                    # the login is now in the cache
    inst.mailctl("user", "disable", USER)
    client = imaps(inst, login=False)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(USER, PASSWORD)
    inst.mailctl("user", "enable", USER)
    imaps(inst).logout()


# mailboxes


def test_select_and_examine(inst):
    deliver(inst)
    deliver(inst, flags=["\\Seen"])
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.login()
    tagged, untagged = raw.command("SELECT INBOX")
    assert tagged.startswith(b"t1 OK [READ-WRITE]")
    text = b"".join(untagged)
    # The first session to select the mailbox takes its \Recent messages.
    assert b"* 2 EXISTS" in text and b"* 2 RECENT" in text
    assert b"* OK [UNSEEN 1]" in text
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", text)
    assert b"* OK [UIDNEXT 3]" in text
    assert b"\\*)]" in text          # PERMANENTFLAGS allows keywords
    tagged, untagged = raw.command("EXAMINE inbox")
    assert tagged.startswith(b"t1 OK [READ-ONLY]")
    assert b"[PERMANENTFLAGS ()]" in b"".join(untagged)
    tagged, _ = raw.command("STORE 1 +FLAGS (\\Seen)")
    assert tagged.startswith(b"t1 NO [READ-ONLY]")
    tagged, _ = raw.command("SELECT Nonexistent")
    assert tagged.startswith(b"t1 NO [NONEXISTENT]")
    tagged, _ = raw.command("FETCH 1 FLAGS")     # the failed SELECT deselected
    assert tagged.startswith(b"t1 BAD")


# fetch


def test_body_bytes_are_identical_and_peek_does_not_set_seen(inst):
    uid = deliver(inst)
    client = imaps(inst)
    assert client.select("INBOX") == ("OK", [b"1"])
    typ, data = client.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
    (head, body), = fetch_parts(data)
    assert body == MESSAGE
    assert b"FLAGS (\\Recent)" in head and f"UID {uid}".encode() in head
    _, data = client.fetch("1", "(BODY[])")
    (head, body), = fetch_parts(data)
    assert body == MESSAGE
    assert b"\\Seen" in head           # \Seen was set, and FLAGS sent with it
    assert any(name.endswith(":2,S") for name in maildir_names(inst))
    _, data = client.fetch("1", "RFC822")
    assert fetch_parts(data)[0][1] == MESSAGE


def test_fetch_data_items(inst):
    deliver(inst)
    client = imaps(inst)
    client.select("INBOX", readonly=True)
    _, data = client.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    head = data[0]
    assert f"RFC822.SIZE {len(MESSAGE)}".encode() in head
    assert re.search(rb'INTERNALDATE "[ \d]\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000"', head)
    _, data = client.fetch("1", "FAST")
    assert b"RFC822.SIZE" in data[0] and b"INTERNALDATE" in data[0]
    header, text = MESSAGE.split(b"\r\n\r\n", 1)
    cases = {
        "BODY.PEEK[HEADER]": header + b"\r\n\r\n",
        "BODY.PEEK[TEXT]": text,
        "BODY.PEEK[]<5.10>": MESSAGE[5:15],
        "BODY.PEEK[]<99999.10>": b"",
        "BODY.PEEK[HEADER.FIELDS (subject X-LONG)]":
            b"Subject: hello there\r\nX-Long: one\r\n two\r\n\r\n",
        "BODY.PEEK[HEADER.FIELDS.NOT (Subject From To)]":
            b"X-Long: one\r\n two\r\n\r\n",
        "RFC822.HEADER": header + b"\r\n\r\n",
    }
    for item, expected in cases.items():
        _, data = client.fetch("1", f"({item})")
        assert fetch_parts(data)[0][1] == expected, item
    # EXAMINE: reading the body does not set \Seen.
    client.fetch("1", "(BODY[TEXT])")
    _, data = client.fetch("1", "(FLAGS)")
    assert b"FLAGS (\\Recent)" in data[0]


def test_fetch_sequence_sets(inst):
    for _ in range(4):
        deliver(inst)
    client = imaps(inst)
    client.select("INBOX")
    _, data = client.fetch("2:*,1", "(UID)")
    assert [int(re.search(rb"UID (\d+)", d).group(1)) for d in data] == [1, 2, 3, 4]
    _, data = client.uid("FETCH", "3:*", "(FLAGS)")
    assert len(data) == 2
    _, data = client.uid("FETCH", "99:*", "(FLAGS)")   # "*" is UID 4: 4:99
    assert len(data) == 1 and b"UID 4" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        client.fetch("5", "(FLAGS)")
    with pytest.raises(imaplib.IMAP4.error):
        client.fetch("1", "(BODYSTRUCTURE.PEEK)")


def test_fetch_star_in_empty_mailbox(inst):
    client = imaps(inst)
    assert client.select("INBOX") == ("OK", [b"0"])
    assert client.fetch("1:*", "(FLAGS)") == ("OK", [None])


# store and expunge


def test_store_flags_round_trip(inst):
    deliver(inst)
    client = imaps(inst)
    client.select("INBOX")
    _, data = client.store("1", "+FLAGS", "(\\Flagged $Label)")
    assert data == [b"1 (FLAGS (\\Flagged \\Recent $Label))"]
    assert maildir_names(inst)[0].endswith(":2,F")
    _, data = client.store("1", "+FLAGS", "\\Seen \\Answered")
    assert data == [b"1 (FLAGS (\\Answered \\Flagged \\Seen \\Recent $Label))"]
    assert maildir_names(inst)[0].endswith(":2,FRS")
    _, data = client.store("1", "-FLAGS", "(\\Flagged $Label)")
    assert data == [b"1 (FLAGS (\\Answered \\Seen \\Recent))"]
    _, data = client.store("1", "FLAGS.SILENT", "(\\Draft)")
    assert data == [None]
    assert maildir_names(inst)[0].endswith(":2,D")
    _, data = client.uid("STORE", "1", "FLAGS", "()")
    assert data == [b"1 (UID 1 FLAGS (\\Recent))"]
    _, data = client.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Recent))"]
    with pytest.raises(imaplib.IMAP4.error):
        client.store("1", "+FLAGS", "(\\Recent)")


def test_expunge_numbering(inst):
    uids = [deliver(inst) for _ in range(5)]
    client = imaps(inst)
    client.select("INBOX")
    client.store("2,4", "+FLAGS.SILENT", "(\\Deleted)")
    typ, data = client.expunge()
    assert typ == "OK"
    assert data == [b"4", b"2"]     # highest first: each number valid when read
    _, data = client.fetch("1:*", "(UID)")
    assert [int(re.search(rb"UID (\d+)", d).group(1)) for d in data] == \
        [uids[0], uids[2], uids[4]]
    assert len(maildir_names(inst)) == 3


def test_close_expunges_silently_and_unselect_does_not(inst):
    deliver(inst, flags=["\\Deleted"])
    deliver(inst, flags=["\\Deleted"])
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.login()
    raw.command("SELECT INBOX")
    tagged, untagged = raw.command("UNSELECT")
    assert tagged.startswith(b"t1 OK") and len(maildir_names(inst)) == 2
    raw.command("SELECT INBOX")
    tagged, untagged = raw.command("CLOSE")
    assert tagged.startswith(b"t1 OK") and untagged == []
    assert maildir_names(inst) == []


def test_changes_by_others_wait_for_noop(inst):
    deliver(inst)
    deliver(inst)
    one = Raw(inst.port("imaps"), inst.client_tls_context())
    one.login()
    one.command("SELECT INBOX")
    other = imaps(inst)
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.store("2", "+FLAGS", "(\\Flagged)")
    other.expunge()
    deliver(inst)
    # RFC 9051 7.5.1: no EXPUNGE during FETCH; message 1 still has number 1.
    tagged, untagged = one.command("FETCH 2 (UID)")
    assert untagged == [b"* 2 FETCH (UID 2)\r\n"]
    tagged, untagged = one.command("NOOP")
    assert untagged == [b"* 1 EXPUNGE\r\n", b"* 2 EXISTS\r\n", b"* 2 RECENT\r\n",
                        b"* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n"]
    tagged, untagged = one.command("FETCH 1:* (UID)")
    assert untagged == [b"* 1 FETCH (UID 2)\r\n", b"* 2 FETCH (UID 3)\r\n"]


# IDLE


def test_idle_sees_a_delivery_within_a_second(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.login()
    raw.command("SELECT INBOX")
    raw.send(b"t2 IDLE\r\n")
    assert raw.line() == b"+ idling\r\n"
    deliver(inst, hint=True)
    start = time.monotonic()
    raw.sock.settimeout(5)
    assert raw.line() == b"* 1 EXISTS\r\n"
    assert raw.line() == b"* 1 RECENT\r\n"
    assert time.monotonic() - start < 1.0
    raw.send(b"DONE\r\n")
    assert raw.line().startswith(b"t2 OK")
    tagged, untagged = raw.command("FETCH 1 (BODY.PEEK[])")
    assert untagged[0].endswith(MESSAGE + b")\r\n")


def test_idle_polls_when_the_hint_is_lost(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.login()
    raw.command("SELECT INBOX")
    raw.send(b"t2 IDLE\r\n")
    assert raw.line() == b"+ idling\r\n"
    deliver(inst, hint=False)
    raw.sock.settimeout(15)
    assert raw.line() == b"* 1 EXISTS\r\n"
    assert raw.line() == b"* 1 RECENT\r\n"
    raw.send(b"done\r\n")
    assert raw.line().startswith(b"t2 OK")


def test_idle_ended_by_something_else_is_bad(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.login()
    raw.send(b"t2 IDLE\r\n")
    assert raw.line() == b"+ idling\r\n"
    raw.send(b"t3 NOOP\r\n")
    assert raw.line().startswith(b"t2 BAD")
    assert raw.command("NOOP")[0].startswith(b"t1 OK")


# malformed input and limits


def test_malformed_commands_get_bad_and_the_session_goes_on(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    for line, start in [(b"\r\n", b"* BAD"), (b"garbage\r\n", b"* BAD"),
                        (b"t1 FROB\r\n", b"t1 BAD"), (b't2 LOGIN "x\r\n', b"t2 BAD"),
                        (b"t3 SELECT INBOX\r\n", b"t3 BAD"),
                        (b"t4 LOGIN a b c\r\n", b"t4 BAD")]:
        raw.send(line)
        assert raw.line().startswith(start), line
    raw.login()
    raw.command("SELECT INBOX")
    for command in ("FETCH x FLAGS", "FETCH 1:* (FLAGS", "STORE 1 FLAGS",
                    "STORE 1 XFLAGS (\\Seen)", "UID FROB 1", "FETCH 1:* FROB"):
        assert raw.command(command)[0].startswith(b"t1 BAD"), command
    assert raw.command("NOOP")[0].startswith(b"t1 OK")


def test_too_long_line_is_bad_and_the_session_goes_on(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.send(b"t1 LOGIN " + b"x" * 70000 + b" y\r\n")
    assert raw.line().startswith(b"* BAD [TOOBIG]")
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")


def test_too_big_literal(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    raw.send(b"t1 LOGIN {999999999999}\r\n")
    assert raw.line().startswith(b"t1 BAD [TOOBIG]")
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")
    raw.send(b"t3 LOGIN {999999999999+}\r\n")
    assert raw.line().startswith(b"t3 BAD [TOOBIG]")
    assert raw.line().startswith(b"* BYE")
    assert raw.line() == b""


def test_too_many_bad_commands_end_the_session(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    for _ in range(9):
        raw.send(b"x FROB\r\n")
        assert raw.line().startswith(b"x BAD")
    raw.send(b"x FROB\r\n")
    assert raw.line().startswith(b"x BAD")
    assert raw.line().startswith(b"* BYE")
    assert raw.line() == b""


def test_autologout(instance):
    instance.add_user(USER, PASSWORD)
    set_config(instance, plaintext_loopback=True, idle_timeout=1)
    instance.start("imapd")
    raw = Raw(instance.port("imap"))
    raw.sock.settimeout(10)
    raw.login()
    assert raw.line().startswith(b"* BYE Autologout")
    assert raw.line() == b""


def test_logout(inst):
    raw = Raw(inst.port("imaps"), inst.client_tls_context())
    tagged, untagged = raw.command("LOGOUT")
    assert untagged[0].startswith(b"* BYE") and tagged.startswith(b"t1 OK")
    assert raw.line() == b""


def test_stop_says_bye_to_waiting_and_idling_clients(inst):
    waiting = Raw(inst.port("imaps"), inst.client_tls_context())
    waiting.login()
    idling = Raw(inst.port("imaps"), inst.client_tls_context())
    idling.login()
    idling.send(b"t2 IDLE\r\n")
    assert idling.line() == b"+ idling\r\n"
    start = time.monotonic()
    inst.stop("imapd")
    assert time.monotonic() - start < 5
    for raw in (waiting, idling):
        assert raw.line() == b"* BYE server shutting down\r\n"
        assert raw.line() == b""


def test_server_survives_abrupt_disconnects(inst):
    sock = socket.create_connection(("127.0.0.1", inst.port("imap")))
    sock.sendall(b"t1 LOGIN {5}\r\nab")
    sock.close()
    client = imaps(inst)
    assert client.noop()[0] == "OK"
    inst.check_alive("imapd")


def test_mail_through_smtpd_and_deliverd_shows_up_in_idle(instance):
    """The first read path end to end: smtpd spools, deliverd delivers and hints,
    the session in IDLE hears of it, and the body comes back as sent."""
    import smtplib
    instance.add_user(USER, PASSWORD)
    instance.start("smtpd", "deliverd", "imapd")
    raw = Raw(instance.port("imaps"), instance.client_tls_context())
    raw.login()
    raw.command("SELECT INBOX")
    raw.send(b"t2 IDLE\r\n")
    assert raw.line() == b"+ idling\r\n"
    with smtplib.SMTP("127.0.0.1", instance.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("alice@example.org", [USER], MESSAGE)
    start = time.monotonic()
    raw.sock.settimeout(10)
    assert raw.line() == b"* 1 EXISTS\r\n"
    assert raw.line() == b"* 1 RECENT\r\n"
    # Well under idle.POLL: deliverd's hint woke the session, not the poll.
    assert time.monotonic() - start < 3.0
    raw.send(b"DONE\r\n")
    assert raw.line().startswith(b"t2 OK")
    _, untagged = raw.command("FETCH 1 (BODY.PEEK[TEXT])")
    header, text = MESSAGE.split(b"\r\n\r\n", 1)
    assert untagged[0].endswith(b"{%d}\r\n" % len(text) + text + b")\r\n")
