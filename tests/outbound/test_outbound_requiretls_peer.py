"""REQUIRETLS (RFC 8689) end to end. Postfix does not offer REQUIRETLS, so the
remote MX here is mailsuite's own smtpd, which does under TLS: its zone,
rt.test, is signed by Knot and validated by unbound, and a DANE-EE record
names its (self-signed) certificate, so deliverd's session is authenticated.
The message arrives queued with REQUIRETLS at the receiving end, which only
the MAIL command can have told it. plain-rt.test leads to the same smtpd
through an unsigned zone: there the message waits."""

import pytest

from checks import assert_clean_log
from harness import Instance, wait_for
from mailsuite.core import notify
from mailsuite.core.spool import Spool, new_qid
from mailsuite.core.spoolentry import Options
from outbound_dnssec import Unbound
from outbound_fixtures import SENDER
from outbound_peers import Knot
from outbound_tls import spki_sha256

WAIT = 30


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("receiver") / "inst", hostname="mx.rt.test")
    inst.add_user("someone@rt.test")
    inst.start("smtpd")
    yield inst
    inst.close()
    assert_clean_log(inst, "smtpd")


@pytest.fixture(scope="module")
def resolver(receiver, tmp_path_factory):
    spki = spki_sha256(receiver.base / "tls" / "cert.pem")
    zones = {"rt.test": f"@ MX 10 mx\nmx A 127.0.0.1\n_25._tcp.mx TLSA 3 1 1 {spki}\n",
             "plain-rt.test": "@ MX 10 mx\nmx A 127.0.0.1\n"}
    with Knot(tmp_path_factory.mktemp("knot-rt"), zones=zones,
              signed=["rt.test"]) as knot:
        with Unbound(tmp_path_factory.mktemp("unbound-rt"), knot, zones) as server:
            yield server


@pytest.fixture
def sender(instance, resolver, receiver):
    instance.add_user(SENDER)
    instance.add_config(f'[outbound]\nnameservers = ["{resolver.nameserver}"]\n'
                        f'smtp_port = {receiver.port("smtp")}\n'
                        "backoff_min = 1\nbackoff_max = 2\n")
    instance.start("deliverd")
    yield instance
    assert_clean_log(instance, "deliverd")


def send_requiretls(inst, recipient):
    qid = new_qid()
    with Spool(inst.state) as spool:
        spool.enqueue_sync(qid, SENDER, [recipient],
                           b"Subject: requiretls\r\n\r\nsecret\r\n",
                           options=Options(requiretls=True))
    notify.send(inst.runtime / "deliverd.wakeup")
    return qid


def received(receiver, recipient):
    """The receiving smtpd's queue entries for `recipient` (it has no
    deliverd: they stay there)."""
    with Spool(receiver.state) as spool:
        return [e for e in spool.entries()
                if recipient in [r.address for r in e.recipients]]


def test_requiretls_message_goes_over_dane_with_requiretls(sender, receiver):
    send_requiretls(sender, "someone@rt.test")
    assert wait_for(lambda: received(receiver, "someone@rt.test"), WAIT), \
        sender.log("deliverd")[-2000:]
    [entry] = received(receiver, "someone@rt.test")
    assert entry.requiretls
    log = sender.log("deliverd")
    assert "mx.rt.test[127.0.0.1]: certificate verified (DANE TLSA records of " \
           "mx.rt.test)" in log
    assert wait_for(lambda: "to=<someone@rt.test>, relay=mx.rt.test[127.0.0.1]"
                    in sender.log("deliverd"), WAIT)


def test_requiretls_message_waits_without_an_authenticated_path(sender, receiver):
    qid = send_requiretls(sender, "someone@plain-rt.test")
    assert wait_for(lambda: "dsn=4.7.30, status=deferred" in sender.log("deliverd"),
                    WAIT), sender.log("deliverd")[-2000:]
    assert "REQUIRETLS: mx.plain-rt.test[127.0.0.1] offers no TLS with a verified " \
           "certificate" in sender.log("deliverd")
    assert "4.7.30" in sender.mailctl("queue", "show", qid).stdout
    assert not received(receiver, "someone@plain-rt.test")
