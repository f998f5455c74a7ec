"""A client that asks for a large message and stops reading must not hold its
session, and so its mailbox, for ever: sending waits for it no longer than the
autologout timer (pop3d.idle_timeout), then the connection is dropped, nothing
is deleted and the mailbox is free for the next session."""

import socket

import pytest

from checks import PASSWORD, USER, assert_clean_log
from harness import wait_for
from mailsuite.core.maildir import Store
from protocol.popclient import RawPop

BIG = b"Subject: big\r\n\r\n" + \
    (b"x" * 78 + b"\r\n") * 300_000         # 24 MB, more than socket buffers hold


@pytest.fixture
def pop3(instance):
    instance.add_user(USER, PASSWORD)
    text = instance.config.read_text()
    instance.config.write_text(text.replace("[pop3d]\n", "[pop3d]\nidle_timeout = 2\n"))
    with Store(instance.maildir(USER)) as store:
        store.deliver("1.big", BIG)
    instance.start("pop3d")
    yield instance
    assert_clean_log(instance, "pop3d")


def test_a_client_that_stops_reading_is_dropped(pop3):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", pop3.port("pop3")))
    sock.recv(100)
    sock.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n".encode())
    # Read nothing more: the server's writes fill the buffers and stall.
    assert wait_for(lambda: "reason=client stopped reading" in pop3.log("pop3d"),
                    timeout=30)
    sock.close()
    conn = RawPop(pop3.port("pop3"))
    assert conn.login(USER, PASSWORD).startswith(b"+OK maildrop has 1 messages")
