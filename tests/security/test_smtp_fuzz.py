"""Fuzzing the SMTP command and address parsers with hypothesis.

Whatever the client sends, no exception escapes: every command gets a numbered
reply, an internal error (451 4.3.0, a bug) never, and the session still answers
afterwards. The in-process tests drive the real Session over a socket pair; one
test talks to the real daemon.
"""

import asyncio
import functools
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checks import USER
from harness import connect
from mailsuite.core import config
from mailsuite.core.stream import Stream
from mailsuite.smtp.address import MAX_DOMAIN, MAX_LOCAL, Path, parse_path
from mailsuite.smtp.errors import ProtocolError
from mailsuite.smtp.session import Session

REPLY_LINE = re.compile(rb"\d{3}[ -]")
REPLY_WAIT = 10          # seconds a reply may take before the test fails


def within(seconds):
    """Bound a hypothesis test's time: examples that would start more than
    `seconds` after its first are skipped, unless one has failed (so that the
    shrinking replays every example it tries)."""
    def wrap(test):
        end = failed = None

        @functools.wraps(test)
        def run(*args, **kwargs):
            nonlocal end, failed
            now = time.monotonic()
            end = end or now + seconds
            if now > end and not failed:
                return None
            try:
                return test(*args, **kwargs)
            except BaseException:
                failed = True
                raise
        return run
    return wrap


# the address parser

PATH_PIECES = st.sampled_from([
    "<", ">", '"', "\\", "@", ".", ",", ":", "[", "]", " ", "=", "-", "a", "Z",
    "0", "ü", "用", "\x00", "\x7f", "\t", "\u2028", "@a.test", "@b,@c:",
    "[127.0.0.1]", "[IPv6:::1]", "SIZE=10", "SMTPUTF8", "x" * 70, "d." * 130,
    "İ" * 40, "ẞ"])                 # longer, and shorter, once lowercased
PATH_TEXT = st.one_of(st.lists(PATH_PIECES, max_size=12).map("".join),
                      st.text(max_size=300))


@settings(max_examples=1000, deadline=None, database=None)
@given(text=PATH_TEXT, allow_null=st.booleans())
@example(text="a@" + "İ" * 126, allow_null=False)
@within(10)
def test_parse_path_answers_or_refuses(text, allow_null):
    for candidate in (text, "<" + text + ">", " <" + text + "> SIZE=1"):
        try:
            path, params = parse_path(candidate, allow_null=allow_null)
        except ProtocolError as exc:
            assert 500 <= exc.code < 600, exc
            continue
        assert isinstance(path, Path) and isinstance(params, dict)
        if path.null:
            assert allow_null
            continue
        # RFC 5321 4.5.3.1: the parts fit their limits.
        assert len(path.local.encode()) <= MAX_LOCAL
        assert len(path.domain.encode()) <= MAX_DOMAIN
        assert path.domain == path.domain.lower()
        # What we hand on reads back as the same address.
        assert parse_path(f"<{path}>")[0] == path


# the session, in process

class FuzzSession(Session):
    """A Session that takes every recipient but "no…" ones, and a message."""

    async def check_recipient(self, path):
        if path.local.startswith("no"):
            raise ProtocolError(550, "5.1.1", f"<{path}>: user unknown")

    def incoming(self, envelope):
        return Sink(self, envelope)


class Sink:
    """An smtp.incoming.Incoming that keeps nothing."""

    def __init__(self, session, envelope):
        self.session, self.envelope, self.size = session, envelope, 0

    async def write(self, piece):
        self.size += len(piece)

    async def commit(self):
        self.session.received_header("FUZZQID", self.envelope)
        return "FUZZQID"

    def discard(self):
        pass


VERBS = ["EHLO ", "HELO ", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP",
         "VRFY ", "HELP", "STARTTLS", "BDAT ", "BDAT 7", "BDAT 9 LAST",
         "AUTH PLAIN ", "mail from: ",
         "rcpt to:", "ehlo", "ſtarttls", "quıt", ""]
ADDRESSES = ["<a@sender.test>", "<>", f"<{USER}>", "<nobody@example.test>",
             "<用户@example.test> SMTPUTF8", "<a@b.test> SIZE=99999999999",
             "<a@b.test> BODY=8BITMIME", "<\"q\\\"x\"@example.test>",
             "<a@b.test> RET=HDRS ENVID=x+2By", f"<{USER}> NOTIFY=SUCCESS,DELAY",
             f"<{USER}> ORCPT=rfc822;x+40y", "<a@b.test> REQUIRETLS"]
BDAT = re.compile(rb"BDAT ([0-9]{1,20})(?: +LAST)? *\r\n", re.IGNORECASE)
MAX_CHUNK = 1 << 16     # larger chunks are not sent: the server would wait for them
COMMAND = st.one_of(
    st.builds(lambda verb, arg: (verb + arg).encode(), st.sampled_from(VERBS),
              st.text(max_size=80) | st.sampled_from(ADDRESSES)),
    st.binary(max_size=120),
    st.integers(2000, 2100).map(lambda n: b"NOOP " + b"x" * n),
).map(lambda line: line.replace(b"\n", b"") + b"\r\n")
DIALOG = st.lists(COMMAND, max_size=8)


class Dialog:
    """The client's side of a session over a blocking socket; `tls` is the
    context for STARTTLS if the server offers it."""

    def __init__(self, sock, tls=None):
        self.sock = sock
        self.sock.settimeout(REPLY_WAIT)
        self.buf = b""
        self.tls = tls

    def reply(self):
        """One complete reply: [lines]; each line must be numbered."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                assert chunk, f"closed without a reply; got {lines!r}"
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            assert REPLY_LINE.match(line), line
            lines.append(line)
            if line[3:4] == b" ":
                return lines

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except OSError:
            return True

    def run(self, commands):
        """Send each command and check its reply; then the session must still
        answer NOOP (or have closed after QUIT or a 421)."""
        assert self.reply()[0].startswith(b"220 ")
        for command in commands:
            chunk = BDAT.fullmatch(command)
            if chunk and int(chunk.group(1)) > MAX_CHUNK:
                continue
            if chunk:
                command += b"x\r\n.\r\n"[:int(chunk.group(1))].ljust(
                    int(chunk.group(1)), b"y")
            self.sock.sendall(command)
            code = self.answer()
            if code in (b"221", b"421"):
                assert self.closed()
                return
        self.sock.sendall(b"NOOP\r\n")
        assert self.reply() == [b"250 2.0.0 Ok"]
        self.sock.sendall(b"QUIT\r\n")
        assert self.reply()[0].startswith(b"221 ")

    def answer(self):
        lines = self.reply()
        assert not lines[-1].startswith(b"451 4.3.0"), "internal error"
        if lines[0].startswith(b"354"):
            self.sock.sendall(b"Subject: fuzz\r\n\r\nbody\r\n.\r\n")
            lines = self.reply()
            assert not lines[-1].startswith(b"451 4.3.0"), "internal error"
        if lines[0].startswith(b"220"):
            assert self.buf == b"", "replies after STARTTLS's go-ahead"
            self.sock = self.tls.wrap_socket(self.sock, server_hostname="localhost")
        return lines[-1][:3]


CFG = config.from_dict({"server": {"hostname": "mx.fuzz.test"}})


async def serve_one(client):
    """Run a FuzzSession for `client(dialog)`, which runs in a thread; returns
    what the client returned once the session has ended."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    _, stream = await loop.connect_accepted_socket(Stream, ours)
    stream.peer = ("192.0.2.1", 25)
    session = asyncio.create_task(FuzzSession(stream, CFG).run())
    try:
        return await loop.run_in_executor(None, client, Dialog(theirs))
    finally:
        theirs.close()
        await asyncio.wait_for(session, REPLY_WAIT)


@settings(max_examples=300, deadline=None, database=None)
@given(commands=DIALOG)
@within(10)
def test_session_answers_every_command(commands):
    asyncio.run(serve_one(lambda dialog: dialog.run(commands)))


@pytest.mark.parametrize("verb", ["ſtarttls", "quıt", "RſET", "ＮＯＯＰ"])
def test_only_ascii_letters_make_a_verb(verb):
    """Non-ASCII letters that upper-case into ASCII ones ("ſ" into "S", "ı" into
    "I") must not make a command that a filter in front of us did not see."""
    def client(dialog):
        dialog.reply()
        dialog.sock.sendall(verb.encode() + b"\r\n")
        return dialog.reply()
    assert asyncio.run(serve_one(client)) == [b"500 5.5.2 command not recognized"]


# the real daemon

@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=DIALOG)
@example(commands=[b"EHLO client.test\r\n", b"STARTTLS\r\n", b"NOOP\r\n"])
@example(commands=[b"EHLO c\r\n", b"MAIL FROM:<>\r\n", f"RCPT TO:<{USER}>\r\n".encode(),
                   b"DATA\r\n"])
@within(10)
def test_daemon_answers_every_command(mx, commands):
    with connect(mx.port("smtp")) as sock:
        dialog = Dialog(sock, mx.client_tls_context())
        dialog.run(commands)
        dialog.sock.close()
