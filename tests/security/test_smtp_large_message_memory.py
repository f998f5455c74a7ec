"""A large message must not be held whole in memory: smtpd kept every message in
memory, more than once (a 60 MB message took it to 177 MB), and deliverd read it
whole again. The data now streams to a file beside the spool record as it
arrives, and deliverd copies that file into the Maildir: neither daemon's peak
grows with the size of the message."""

import hashlib
import smtplib

import pytest

import procmem
from checks import PASSWORD, USER, assert_clean_log
from harness import wait_for

SIZE = 60 << 20
LINE = b"0123456789" * 7 + b"abcdef\r\n"            # 78 bytes: a legal line
CHUNK = LINE * ((1 << 20) // len(LINE))
HEADER = (f"From: <a@sender.test>\r\nTo: <{USER}>\r\n"
          "Subject: a large message\r\n\r\n").encode()


@pytest.fixture
def big_mx(instance):
    instance.add_config(f"[smtpd]\nmax_message_size = {SIZE + (4 << 20)}\n")
    instance.add_user(USER, PASSWORD)
    instance.start("smtpd", "deliverd")
    yield instance
    for program in ("smtpd", "deliverd"):
        assert_clean_log(instance, program)


def send_large(port):
    """Send HEADER + chunks until SIZE bytes; returns (reply code, sha256 of the
    message as sent, its length)."""
    digest = hashlib.sha256(HEADER)
    sent = len(HEADER)
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test", [f"SIZE={SIZE + len(HEADER)}"])
        client.rcpt(USER)
        assert client.docmd("DATA")[0] == 354
        client.sock.sendall(HEADER)
        while sent < SIZE:
            client.sock.sendall(CHUNK)
            digest.update(CHUNK)
            sent += len(CHUNK)
        client.sock.sendall(b".\r\n")
        code, _ = client.getreply()
    return code, digest.hexdigest(), sent


def test_large_message_does_not_grow_peak_memory(big_mx):
    pids = {p: big_mx.pids[p] for p in ("smtpd", "deliverd")}
    before = {p: procmem.rss(pid) for p, pid in pids.items()}
    for pid in pids.values():
        procmem.reset_peak(pid)
    code, digest, length = send_large(big_mx.port("smtp"))
    assert code == 250
    files = wait_for(lambda: big_mx.inbox_files(), timeout=120)
    assert len(files) == 1
    growth = {p: procmem.peak(pid) - before[p] for p, pid in pids.items()}
    # The message is there, whole: the Received field, then the bytes sent.
    content = files[0].read_bytes()
    assert content.startswith(b"Received: ")
    assert len(content) > length
    assert hashlib.sha256(content[-length:]).hexdigest() == digest
    mib = {program: grown >> 20 for program, grown in growth.items()}
    assert all(grown < SIZE // 4 for grown in growth.values()), \
        f"peak growth in MiB for a {SIZE >> 20} MiB message: {mib}"
