"""acmed against Debian's pebble (the ACME test CA) on loopback, end to end.

One pebble and one instance for the module: smtpd and imapd serve the self-signed
certificate of a new installation; acmed, started as the timer or a request on port
80 would start it, gets the first certificate; a forced renewal reaches smtpd and
imapd at their next handshake without a restart; an account that exists is found,
not recreated; a challenge the CA cannot check (acmed's port closed) fails, backs
off and leaves the certificate in use. The tests run in this order.
"""

import http.client
import json
import smtplib
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness import Instance, wait_for
from interop.pebble import Pebble
from mailsuite import acmed, dev
from mailsuite.core import tls
from security.checks import assert_clean_log

NAMES = ["mail.example.test", "autoconfig.example.test", "mta-sts.example.test"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """(instance, pebble): smtpd and imapd running, acmed's port bound."""
    base = tmp_path_factory.mktemp("acmed")
    inst = Instance(base / "inst")
    inst.mailctl("domain", "add", "example.test")
    inst._bind("acmed")
    pebble = Pebble(base / "pebble", inst.port("http")).start()
    inst.add_config(pebble.config())
    try:
        inst.start("smtpd", "imapd")
        yield inst, pebble
        for program in ("acmed", "smtpd", "imapd"):
            assert_clean_log(inst, program)
    finally:
        inst.close()
        pebble.stop()


def leaf_der(path):
    """The DER of the first certificate of a PEM file: what a server sends first."""
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER)


def no_verify():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_by_imapd(inst):
    with socket.create_connection(("127.0.0.1", inst.port("imaps")), timeout=10) as raw:
        with no_verify().wrap_socket(raw) as conn:
            return conn.getpeercert(binary_form=True)


def served_by_smtpd(inst):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10) as client:
        client.starttls(context=no_verify())
        return client.sock.getpeercert(binary_form=True)


def cert_file(inst):
    return inst.base / "tls/cert.pem"


def test_first_issuance(ca):
    inst, _ = ca
    assert "is self-signed" in inst.log("imapd")
    inst.start("acmed")
    assert wait_for(lambda: "acme: rene" in inst.log("acmed"), 60)
    assert "acme: renewed" in inst.log("acmed"), inst.log("acmed")
    cert = x509.load_pem_x509_certificate(cert_file(inst).read_bytes())
    names = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == sorted(NAMES)
    assert "Pebble" in cert.issuer.rfc4514_string()
    assert not tls.is_self_signed(cert_file(inst))
    assert served_by_imapd(inst) == leaf_der(cert_file(inst))
    status = inst.mailctl("cert", "status").stdout
    assert f"names: {', '.join(NAMES)}" in status
    assert "issuer: CN=Pebble Intermediate CA" in status
    assert "days left" in status and ": ok" in status


@pytest.mark.parametrize("path", [
    "/.well-known/acme-challenge/..%2Faccount-key.pem",
    "/.well-known/acme-challenge/%2E%2E/acme/account-key.pem",
    "/.well-known/acme-challenge/../../state/acme/account-key.pem"])
def test_port_80_serves_tokens_only(ca, path):
    inst, _ = ca
    conn = http.client.HTTPConnection("127.0.0.1", inst.port("http"), timeout=10)
    conn.request("GET", path)
    reply = conn.getresponse()
    body = reply.read()
    conn.close()
    assert reply.status in (301, 404), (reply.status, body)
    assert b"PRIVATE KEY" not in body
    if reply.status == 301:
        assert reply.getheader("Location").startswith("https://")


def test_port_80_limits_the_connections_of_one_address(ca):
    inst, _ = ca
    per_address = acmed.SESSIONS.per_address
    # From an address of its own: pebble's validations come from 127.0.0.1,
    # and one of their connections may still be open.
    source = ("127.0.0.77", 0)
    held = [socket.create_connection(("127.0.0.1", inst.port("http")), timeout=10,
                                     source_address=source)
            for _ in range(per_address)]
    try:
        # A request on the last one held: every one before it is being served.
        held[-1].sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert held[-1].recv(4096).startswith(b"HTTP/1.1 301 ")
        with socket.create_connection(("127.0.0.1", inst.port("http")), timeout=10,
                                      source_address=source) as one_more:
            assert one_more.recv(4096) == acmed.SESSIONS.refusal
    finally:
        for sock in held:
            sock.close()


def test_forced_renewal_reaches_running_daemons(ca):
    inst, _ = ca
    pids = dict(inst.pids)
    before = leaf_der(cert_file(inst))
    assert served_by_smtpd(inst) == before
    proc = inst.mailctl("cert", "renew", "--force")
    assert proc.stdout.startswith("renewed (renewal forced)")
    after = leaf_der(cert_file(inst))
    assert after != before
    assert served_by_imapd(inst) == after
    assert served_by_smtpd(inst) == after
    for program in ("smtpd", "imapd"):
        inst.check_alive(program)
    assert inst.pids == pids


def test_an_existing_account_is_reused(ca):
    inst, _ = ca
    saved = inst.state / "acme/account.json"
    uri = json.loads(saved.read_text())["uri"]
    key = (inst.state / "acme/account-key.pem").read_bytes()
    saved.unlink()
    proc = inst.mailctl("cert", "renew", "--force")
    assert f"account found for the key: {uri}" in proc.stderr
    assert "account created" not in proc.stderr
    assert json.loads(saved.read_text())["uri"] == uri
    assert (inst.state / "acme/account-key.pem").read_bytes() == key
    assert "renewal forced" in proc.stdout


def test_a_failed_challenge_backs_off_and_keeps_the_certificate(ca):
    inst, _ = ca
    port = inst.port("http")
    inst.stop("acmed")
    for _, sock in inst.sockets.pop("acmed"):
        sock.close()                # the CA's connection is refused
    before = cert_file(inst).read_bytes()
    try:
        proc = inst.mailctl("cert", "renew", "--force", check=False)
        assert proc.returncode == 1, proc
        assert proc.stderr.splitlines()[-1].startswith("mailctl: renewal failed: ")
        assert "urn:ietf:params:acme:error:connection" in proc.stderr
        assert cert_file(inst).read_bytes() == before
        assert served_by_imapd(inst) == leaf_der(cert_file(inst))
        state = json.loads((inst.state / "acme/status.json").read_text())
        assert state["failures"] == 1
        assert state["next_attempt"] - state["last_attempt"] == 3600
        status = inst.mailctl("cert", "status").stdout
        assert "next automatic attempt: after" in status
        assert "(1 failure(s) in a row)" in status
    finally:
        inst.sockets["acmed"] = [("http", dev.bind_tcp(port))]
    assert not list((inst.state / "acme/http-01").iterdir())
