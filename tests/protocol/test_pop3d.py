"""pop3d on real sockets: poplib where it can say it, raw dialogs where it cannot.
Every command of RFC 1939, CAPA, STLS and AUTH, in the states where they are
allowed and where they are not, and the errors they answer."""

import base64
import poplib

import pytest

from harness import wait_for
from mailsuite.core import maildir
from protocol.popclient import RawPop

USER = "demo@example.test"
PASSWORD = "secret-password"
FAST_FAILURES = "[login]\nfailure_delay = 0.01\nfailure_delay_max = 0.02\n"
MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"Subject: hello there\r\n"
           b"\r\n"
           b"Body line one.\r\n"
           b".a line that starts with a dot\r\n"
           b"Body line three.\r\n")
# As another Maildir tool may store it: bare LF line ends, a line that is a lone
# dot, and no line end at the very end.
LF_MESSAGE = b"Subject: lf\n\nfirst\n.\nlast line without an end"
LF_WIRE = LF_MESSAGE.replace(b"\n", b"\r\n")


def set_pop3d(instance, **keys):
    """Rewrite the [pop3d] section of the configuration (before the start)."""
    text = instance.config.read_text()
    head, _, rest = text.partition("[pop3d]\n")
    _, _, tail = rest.partition("\n[")
    lines = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n"
                    for k, v in keys.items())
    instance.config.write_text(head + "[pop3d]\n" + lines + ("\n[" + tail if tail else ""))


def deliver(instance, *messages, user=USER):
    with maildir.Store(instance.maildir(user)) as store:
        return [store.deliver(maildir.unique_base(), data) for data in messages]


@pytest.fixture
def inst(instance):
    """pop3d serving demo@example.test (the test configuration allows plaintext
    login from loopback); failed logins are answered at once."""
    instance.add_user(USER, PASSWORD)
    instance.add_config(FAST_FAILURES)
    yield instance
    # -ERR [SYS/TEMP] for a bug would show up here as a logged traceback.
    assert "Traceback" not in instance.log("pop3d")


@pytest.fixture
def pop(inst):
    deliver(inst, MESSAGE, LF_MESSAGE)
    inst.start("pop3d")
    return inst


def client(instance, login=True):
    box = poplib.POP3("127.0.0.1", instance.port("pop3"), timeout=10)
    if login:
        box.user(USER)
        box.pass_(PASSWORD)
    return box


def raw(instance, login=True):
    conn = RawPop(instance.port("pop3"))
    if login:
        assert conn.login(USER, PASSWORD).startswith(b"+OK")
    return conn


def b64(data):
    return base64.b64encode(data).decode()


# greeting, CAPA, STLS


def test_greeting_has_no_apop_timestamp(pop):
    conn = raw(pop, login=False)
    assert conn.greeting == b"+OK mail.example.test POP3 ready\r\n"
    assert b"<" not in conn.greeting


def test_capabilities_before_and_after_login(pop):
    box = client(pop, login=False)
    caps = box.capa()
    for name in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS",
                 "USER"):
        assert name in caps, caps
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["IMPLEMENTATION"] == ["mailsuite"]
    box.user(USER)
    box.pass_(PASSWORD)
    # RFC 2449 5: what the AUTHORIZATION state offers is announced in both.
    assert box.capa() == caps


def test_plaintext_login_refused_before_stls(inst):
    set_pop3d(inst, plaintext_loopback=False)
    deliver(inst, MESSAGE)
    inst.start("pop3d")
    box = client(inst, login=False)
    caps = box.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    conn = raw(inst, login=False)
    assert conn.command(f"USER {USER}").startswith(b"-ERR use STLS")
    plain = b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
    assert conn.command(f"AUTH PLAIN {plain}").startswith(b"-ERR use STLS")
    box.stls(inst.client_tls_context())
    caps = box.capa()
    assert "STLS" not in caps and "USER" in caps and caps["SASL"] == ["PLAIN", "LOGIN"]
    box.user(USER)
    assert box.pass_(PASSWORD).startswith(b"+OK maildrop has 1 messages")
    assert wait_for(lambda: "method=USER tls=TLSv1" in inst.log("pop3d"))


def test_implicit_tls_on_pop3s(inst):
    set_pop3d(inst, plaintext_loopback=False)
    inst.start("pop3d")
    box = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"), timeout=10,
                          context=inst.client_tls_context())
    caps = box.capa()
    assert "STLS" not in caps and "USER" in caps
    box.user(USER)
    assert box.pass_(PASSWORD).startswith(b"+OK")
    conn = RawPop(inst.port("pop3s"), context=inst.client_tls_context())
    assert conn.command("STLS").startswith(b"-ERR TLS is already active")
    box.quit()


def test_stls_discards_pipelined_plaintext(pop):
    conn = raw(pop, login=False)
    conn.send(f"STLS\r\nUSER {USER}\r\n".encode())
    assert conn.line().startswith(b"+OK")
    conn.sock = pop.client_tls_context().wrap_socket(conn.sock,
                                                      server_hostname="localhost")
    conn.file = conn.sock.makefile("rb")
    # The USER sent before the handshake was never read: PASS comes too early.
    assert conn.command(f"PASS {PASSWORD}") == b"-ERR USER first\r\n"
    assert conn.login(USER, PASSWORD).startswith(b"+OK")


def test_stls_is_refused_once_logged_in(pop):
    conn = raw(pop)
    assert conn.command("STLS") == \
        b"-ERR STLS is not allowed in the TRANSACTION state\r\n"
    assert conn.command("NOOP") == b"+OK\r\n"


# USER, PASS, AUTH, APOP


def test_user_pass(pop):
    box = client(pop, login=False)
    assert box.user(USER) == b"+OK send PASS"
    assert box.pass_(PASSWORD) == b"+OK maildrop has 2 messages (%d octets)" % (
        len(MESSAGE) + len(LF_WIRE))
    assert f"login: user={USER} ip=127.0.0.1 method=USER tls=no" in pop.log("pop3d")


def test_password_with_spaces(inst):
    inst.add_user("spaces@example.test", " a pass phrase ")
    inst.start("pop3d")
    conn = RawPop(inst.port("pop3"))
    assert conn.login("spaces@example.test", " a pass phrase ").startswith(b"+OK")


def test_user_of_unknown_account_is_answered_like_any_other(pop):
    conn = raw(pop, login=False)
    assert conn.command("USER nobody@example.test") == b"+OK send PASS\r\n"
    assert conn.command(f"PASS {PASSWORD}") == b"-ERR [AUTH] authentication failed\r\n"


def test_failed_logins_end_the_session(pop):
    conn = raw(pop, login=False)
    assert conn.command(f"PASS {PASSWORD}") == b"-ERR USER first\r\n"
    for _ in range(2):
        assert conn.login(USER, "wrong") == b"-ERR [AUTH] authentication failed\r\n"
    assert conn.login(USER, "wrong") == b"-ERR [AUTH] authentication failed\r\n"
    assert conn.rest() == b"-ERR too many failed logins\r\n"
    log = pop.log("pop3d")
    assert "login failed: user=demo@example.test" in log and "wrong" not in log


def test_auth_plain_with_and_without_initial_response(pop):
    response = b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
    conn = raw(pop, login=False)
    assert conn.command(f"AUTH PLAIN {response}").startswith(b"+OK maildrop has 2")
    conn.command("QUIT")
    conn = raw(pop, login=False)
    assert conn.command("AUTH PLAIN") == b"+ \r\n"
    assert conn.command(response).startswith(b"+OK maildrop has 2")
    assert wait_for(lambda: "method=SASL-PLAIN" in pop.log("pop3d"))


def test_auth_login(pop):
    conn = raw(pop, login=False)
    assert conn.command("AUTH LOGIN") == b"+ " + b64(b"Username:").encode() + b"\r\n"
    assert conn.command(b64(USER.encode())) == \
        b"+ " + b64(b"Password:").encode() + b"\r\n"
    assert conn.command(b64(PASSWORD.encode())).startswith(b"+OK")


def test_auth_refusals(pop):
    conn = raw(pop, login=False)
    assert conn.multiline("AUTH")[1] == [b"PLAIN\r\n", b"LOGIN\r\n"]
    assert conn.command("AUTH CRAM-MD5") == \
        b"-ERR unsupported authentication mechanism\r\n"
    assert conn.command("AUTH PLAIN") == b"+ \r\n"
    assert conn.command("*") == b"-ERR authentication cancelled\r\n"
    assert conn.command("AUTH PLAIN =") == b"-ERR malformed PLAIN response\r\n"
    assert conn.command("AUTH PLAIN !!!") == b"-ERR malformed base64 response\r\n"
    other = b64(b"other@example.test\0" + USER.encode() + b"\0" + PASSWORD.encode())
    assert conn.command(f"AUTH PLAIN {other}") == \
        b"-ERR [AUTH] cannot log in as another user\r\n"
    assert conn.command("NOOP").startswith(b"-ERR NOOP is not allowed")


def test_apop_is_refused_with_its_reason(pop):
    conn = raw(pop, login=False)
    answer = conn.command(f"APOP {USER} c4c9334bac560ecc979e58001b3e22fb")
    assert answer.startswith(b"-ERR [AUTH] APOP is not supported: passwords are "
                             b"stored as argon2id hashes")
    assert conn.login(USER, PASSWORD).startswith(b"+OK")


def test_quit_before_login(pop):
    conn = raw(pop, login=False)
    assert conn.command("QUIT") == b"+OK mail.example.test POP3 server signing off\r\n"
    assert conn.rest() == b""


# the TRANSACTION state


def test_stat_list_uidl(pop):
    box = client(pop)
    sizes = [len(MESSAGE), len(LF_WIRE)]
    assert box.stat() == (2, sum(sizes))
    first, lines, _ = box.list()
    assert first == b"+OK 2 messages (%d octets)" % sum(sizes)
    assert lines == [b"1 %d" % sizes[0], b"2 %d" % sizes[1]]
    assert box.list(2) == b"+OK 2 %d" % sizes[1]
    _, uidls, _ = box.uidl()
    assert [line.split()[0] for line in uidls] == [b"1", b"2"]
    ids = [line.split()[1] for line in uidls]
    assert len(set(ids)) == 2 and all(len(i) == 16 for i in ids)
    assert box.uidl(2) == b"+OK 2 " + ids[1]


def test_retr_sends_crlf_and_stuffs_dots(pop):
    conn = raw(pop)
    first, lines = conn.multiline("RETR 1")
    assert first == b"+OK %d octets\r\n" % len(MESSAGE)
    assert b"".join(lines) == MESSAGE.replace(b"\r\n.a", b"\r\n..a")
    first, lines = conn.multiline("RETR 2")
    assert first == b"+OK %d octets\r\n" % len(LF_WIRE)
    # A line that is a lone dot goes out as "..", and the last line gets its CRLF.
    assert b"".join(lines) == \
        b"Subject: lf\r\n\r\nfirst\r\n..\r\nlast line without an end\r\n"


def test_retr_through_poplib_gives_the_message_back(pop):
    box = client(pop)
    _, lines, octets = box.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == MESSAGE
    _, lines, _ = box.retr(2)
    assert b"\n".join(lines) == LF_MESSAGE


def test_top(pop):
    box = client(pop)
    assert box.top(1, 0)[1] == [b"From: Alice <alice@example.org>",
                                b"Subject: hello there", b""]
    assert box.top(1, 2)[1][-2:] == [b"Body line one.", b".a line that starts with a dot"]
    assert box.top(1, 1000)[1] == box.retr(1)[1]
    assert box.top(2, 1)[1] == [b"Subject: lf", b"", b"first"]
    conn = raw(pop, login=False)
    box.quit()
    assert conn.login(USER, PASSWORD).startswith(b"+OK")
    assert conn.command("TOP 1") == \
        b"-ERR expected a message number and a number of lines\r\n"
    assert conn.command("TOP 1 -1") == b"-ERR not a number of lines: -1\r\n"


def test_top_zero_over_the_whole_list_up_and_down(inst):
    deliver(inst, *(b"Subject: number %d\r\n\r\nbody\r\n" % n for n in range(1, 41)))
    inst.start("pop3d")
    box = client(inst)
    box.dele(20)
    walk = [n for n in range(1, 41) if n != 20] + [n for n in range(40, 0, -1) if n != 20]
    for number in walk + [7, 3, 33]:
        assert box.top(number, 0)[1] == [b"Subject: number %d" % number, b""], number


def test_dele_rset_and_quit_remove_only_the_marked(pop):
    box = client(pop)
    assert box.dele(1) == b"+OK message 1 deleted"
    assert box.stat() == (1, len(LF_WIRE))
    assert box.list()[1] == [b"2 %d" % len(LF_WIRE)]
    assert box.uidl()[1][0].startswith(b"2 ")
    for command in ("RETR 1", "DELE 1", "LIST 1", "TOP 1 0", "UIDL 1"):
        with pytest.raises(poplib.error_proto, match="message 1 already deleted"):
            box._shortcmd(command)
    assert box.rset() == b"+OK maildrop has 2 messages (%d octets)" % (
        len(MESSAGE) + len(LF_WIRE))
    box.dele(2)
    assert box.quit() == b"+OK mail.example.test POP3 server signing off " \
                         b"(1 messages left)"
    box = client(pop)
    assert box.stat() == (1, len(MESSAGE))
    assert box.retr(1)[1][1] == b"Subject: hello there"
    assert wait_for(lambda: "reason=quit retrieved=0 deleted=1" in pop.log("pop3d"))


def test_session_ended_without_quit_removes_nothing(pop):
    conn = raw(pop)
    assert conn.command("DELE 1").startswith(b"+OK")
    conn.close()
    box = wait_for(lambda: _logged_in(pop))
    assert box.stat()[0] == 2


def _logged_in(instance):
    """A poplib session, or None while the mailbox is still in use."""
    box = client(instance, login=False)
    box.user(USER)
    try:
        box.pass_(PASSWORD)
    except poplib.error_proto as exc:
        assert b"[IN-USE]" in exc.args[0], exc
        box.close()
        return None
    return box


def test_message_numbers_are_checked(pop):
    conn = raw(pop)
    assert conn.command("RETR 3") == b"-ERR no such message\r\n"
    assert conn.command("RETR 0") == b"-ERR no such message\r\n"
    assert conn.command("LIST 99999999999999") == \
        b"-ERR not a message number: 99999999999999\r\n"
    assert conn.command("DELE x") == b"-ERR not a message number: x\r\n"
    assert conn.command("RETR") == b"-ERR expected a message number\r\n"
    assert conn.command("STAT 1") == b"-ERR expected no arguments\r\n"
    assert conn.command("LIST 1 2") == b"-ERR expected at most a message number\r\n"
    assert conn.command("RETR \u0661".encode()) == \
        "-ERR not a message number: \u0661\r\n".encode()
    assert conn.command("NOOP") == b"+OK\r\n"


def test_commands_in_the_wrong_state_and_unknown_ones(pop):
    conn = raw(pop, login=False)
    for command in ("STAT", "LIST", "RETR 1", "DELE 1", "RSET", "NOOP", "UIDL",
                    "TOP 1 0"):
        keyword = command.split()[0]
        assert conn.command(command) == \
            f"-ERR {keyword} is not allowed in the AUTHORIZATION state\r\n".encode()
    # A new session: the budget of errors (pop3d.max_errors, 10) is nearly spent.
    conn = raw(pop)
    for command in ("USER x", "PASS x", "AUTH PLAIN", "APOP x y"):
        keyword = command.split()[0]
        assert conn.command(command) == \
            f"-ERR {keyword} is not allowed in the TRANSACTION state\r\n".encode()
    assert conn.command("XYZZY") == b"-ERR unknown command\r\n"
    assert conn.command("\u017ftat") == b"-ERR unknown command\r\n"
    assert conn.command("stat").startswith(b"+OK 2 ")


def test_pipelined_commands_are_answered_in_order(pop):
    conn = raw(pop, login=False)
    conn.send(f"USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nNOOP\r\nQUIT\r\n"
              .encode())
    assert conn.line() == b"+OK send PASS\r\n"
    assert conn.line().startswith(b"+OK maildrop has 2 messages")
    assert conn.line().startswith(b"+OK 2 ")
    assert conn.line().startswith(b"+OK 2 messages")
    assert len(conn.lines()) == 2
    assert conn.rest() == b"+OK\r\n+OK mail.example.test POP3 server signing off " \
                          b"(2 messages left)\r\n"


def test_idle_session_is_logged_out_and_removes_nothing(inst):
    set_pop3d(inst, idle_timeout=1, plaintext_loopback=True)
    deliver(inst, MESSAGE)
    inst.start("pop3d")
    conn = raw(inst)
    assert conn.command("DELE 1").startswith(b"+OK")
    assert conn.rest() == b"-ERR autologout; idle for too long\r\n"
    box = wait_for(lambda: _logged_in(inst))
    assert box.stat()[0] == 1


def test_stop_ends_waiting_sessions_and_removes_nothing(pop):
    conn = raw(pop)
    assert conn.command("DELE 1").startswith(b"+OK")
    pop.stop("pop3d")
    assert conn.rest() == b"-ERR [SYS/TEMP] server shutting down\r\n"
    pop.start("pop3d")
    assert client(pop).stat()[0] == 2
