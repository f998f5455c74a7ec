"""A failed TLS handshake on an implicit-TLS port (a client speaking plaintext
to IMAPS, a scanner, a dropped connection) is one short log line."""

from checks import assert_clean_log
from harness import connect, wait_for


def test_plaintext_to_implicit_tls_port(imap):
    sock = connect(imap.port("imaps"))
    sock.sendall(b"a001 CAPABILITY\r\n")
    assert sock.recv(4096) == b""
    sock.close()
    assert wait_for(lambda: "TLS handshake failed" in imap.log("imapd")), imap.log("imapd")
    assert_clean_log(imap, "imapd")


def test_hang_up_before_handshake(imap):
    connect(imap.port("imaps")).close()
    assert wait_for(lambda: "TLS handshake failed" in imap.log("imapd")), imap.log("imapd")
    assert_clean_log(imap, "imapd")
