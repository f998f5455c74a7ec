"""End to end with real peers: swaks sends, Python's imaplib reads over IMAPS.

The foundation's "done when": a message sent by swaks to demo@example.test on the
MX port is read back over IMAPS with identical body bytes (8-bit UTF-8, a long line,
lines that start with a dot), and a session in IDLE sees it arrive.
"""

import imaplib
import shutil
import subprocess
import time

import pytest

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
DEMO = "demo@example.test"
PASSWORD = "swaks-test-password"

# swaks rewrites a few things in the data it sends: a literal backslash-n and
# %TOKENS% are expanded, a leading "From " line and a final lone dot are removed,
# and it ends the data with CRLF "." itself (so the file leaves out the last CRLF).
# This body avoids the rest, and tests dot-stuffing on the wire both ways.
BODY = (
    "Grüße aus Köln: ünïcödé, ελληνικά, 日本語, emoji ✉\r\n"
    "\r\n"
    + "long line " + "0123456789" * 95 + "\r\n"
    ".a line that starts with a dot\r\n"
    ".\r\n"
    "..two dots\r\n"
    " trailing spaces   \r\n"
    "last line\r\n"
).encode("utf-8")

HEADERS = (
    "From: Sender <sender@client.test>\r\n"
    f"To: <{DEMO}>\r\n"
    "Subject: swaks interop\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
).encode()


@pytest.fixture
def suite(instance):
    """smtpd, deliverd and imapd running, with demo@example.test."""
    instance.add_user(DEMO, PASSWORD)
    instance.start("smtpd", "deliverd", "imapd")
    return instance


def swaks(inst, tmp_path, subject="swaks interop", *extra, to=DEMO):
    message = tmp_path / f"message-{time.monotonic_ns()}.eml"
    message.write_bytes(HEADERS.replace(b"swaks interop", subject.encode())
                        + b"\r\n" + BODY.removesuffix(b"\r\n"))
    proc = subprocess.run(
        [SWAKS, "--server", "127.0.0.1", "--port", str(inst.port("smtp")),
         "--helo", "client.test", "--from", "sender@client.test", "--to", to,
         "--data", f"@{message}", "--timeout", "30", *extra],
        capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-3000:]
    return proc.stdout.decode(errors="replace")


def imaps(inst):
    client = imaplib.IMAP4_SSL("127.0.0.1", inst.port("imaps"),
                               ssl_context=inst.client_tls_context(), timeout=15)
    client.login(DEMO, PASSWORD)
    return client


def fetch_all(client):
    """{uid: full message bytes} of INBOX."""
    typ, data = client.select("INBOX", readonly=True)
    assert typ == "OK"
    if int(data[0]) == 0:
        return {}
    typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    assert typ == "OK"
    messages = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(item[0].split(b"UID ")[1].split()[0])
            messages[uid] = item[1]
    return messages


def wait_messages(inst, count, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        client = imaps(inst)
        try:
            messages = fetch_all(client)
        finally:
            client.logout()
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def split_message(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:500]
    return head, body


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_swaks_message_read_back_over_imaps(suite, tmp_path, tls):
    out = swaks(suite, tmp_path, "swaks interop", *(["--tls"] if tls else []))
    assert "250" in out
    messages = wait_messages(suite, 1)
    assert len(messages) == 1, messages
    head, body = split_message(next(iter(messages.values())))
    assert body == BODY
    # smtpd adds its Received header on top; the sender's headers follow intact.
    assert head.startswith(b"Received: ") or b"\r\nReceived: " in head
    assert b"Subject: swaks interop" in head
    assert b"Content-Type: text/plain; charset=utf-8" in head


def test_idle_session_sees_swaks_message_arrive(suite, tmp_path):
    client = imaps(suite)
    try:
        typ, data = client.select("INBOX")
        assert typ == "OK" and int(data[0]) == 0
        client.send(b"i1 IDLE\r\n")
        assert client.readline().startswith(b"+")

        swaks(suite, tmp_path, "seen in idle")
        sent = time.monotonic()
        client.sock.settimeout(5)
        line = client.readline()
        while line and not line.rstrip().upper().endswith(b"EXISTS"):
            line = client.readline()
        elapsed = time.monotonic() - sent
        assert line.split()[:3] == [b"*", b"1", b"EXISTS"], line
        assert elapsed < 5

        client.send(b"DONE\r\n")
        line = client.readline()
        while line and not line.startswith(b"i1 "):
            line = client.readline()
        assert line.startswith(b"i1 OK"), line
        typ, data = client.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK"
        assert split_message(data[0][1])[1] == BODY
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


@pytest.mark.parametrize("to", ["postmaster@example.test", "Postmaster"])
def test_swaks_to_postmaster_is_delivered(suite, tmp_path, to):
    # RFC 5321 4.5.1 and 4.1.1.3: postmaster@ every local domain, and the bare
    # <Postmaster>, are accepted; with no alias of that name the first
    # administrator (the server's oldest user, demo here) receives the mail.
    out = swaks(suite, tmp_path, "to the postmaster", to=to)
    assert f"RCPT TO:<{to}>" in out
    messages = wait_messages(suite, 1)
    assert len(messages) == 1, messages
    head, body = split_message(next(iter(messages.values())))
    assert b"Subject: to the postmaster" in head and body == BODY
