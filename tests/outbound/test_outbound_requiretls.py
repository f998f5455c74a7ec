"""REQUIRETLS (RFC 8689) in the outbound transaction, without a peer: which
sessions may carry a REQUIRETLS message, what its MAIL command says, and how
it is returned when it expires."""

import io

import pytest

from mailsuite.core.spool import Entry as SpoolEntry, Recipient
from mailsuite.outbound import dsn, transaction
from mailsuite.outbound.message import Outgoing, Rcpt, tls_optional
from mailsuite.outbound.record import Policy, _expired
from mailsuite.outbound.status import Outcome


class FakeSession:
    remote = "mx.example.test[192.0.2.1]"

    def __init__(self, tls=True, authenticated=True, extensions=("REQUIRETLS",)):
        self.tls, self.authenticated = tls, authenticated
        self.extensions = {e: "" for e in extensions}


def message(requiretls=True):
    data = b"Subject: x\r\n\r\nx\r\n"
    return Outgoing("Q1", "a@example.test", [Rcpt("b@example.net")], len(data),
                    lambda: io.BytesIO(data), requiretls=requiretls, data=data)


def test_mail_command_carries_requiretls():
    assert transaction._mail_command(FakeSession(), message()) == \
        "MAIL FROM:<a@example.test> REQUIRETLS"
    assert "REQUIRETLS" not in transaction._mail_command(FakeSession(),
                                                         message(False))


@pytest.mark.parametrize("session, why", [
    (FakeSession(tls=False, authenticated=False), "offers no TLS;"),
    (FakeSession(authenticated=False), "offers no TLS with a verified certificate"),
    (FakeSession(extensions=()), "does not offer REQUIRETLS"),
])
def test_requiretls_message_waits_for_a_path(session, why):
    outcome = transaction._refusal(session, message())
    assert outcome[:2] == ("deferred", "4.7.30")
    assert why in outcome.text


def test_requiretls_path_found():
    assert transaction._refusal(FakeSession(), message()) is None
    assert transaction._refusal(FakeSession(tls=False, authenticated=False),
                                message(False)) is None


class Entry:
    arrival = 1000.0


POLICY = Policy("mail.example.test", 100, 0, 1, 2)


def test_requiretls_deferral_expires_as_5_7_30():
    waiting = Outcome("deferred", "4.7.30", "REQUIRETLS: no", "mx")
    assert _expired(Entry(), waiting, POLICY, 1050.0) is waiting
    returned = _expired(Entry(), waiting, POLICY, 1101.0)
    assert returned[:2] == ("failed", "5.7.30")
    assert "last error: REQUIRETLS: no" in returned.text
    other = _expired(Entry(), Outcome("deferred", "4.2.0", "later"), POLICY, 1101.0)
    assert other[:2] == ("failed", "4.4.7")


class FakeSpool:
    def __init__(self, data):
        self.data = data

    def open(self, qid):
        if self.data is None:
            raise KeyError(qid)
        return io.BytesIO(self.data)


@pytest.mark.parametrize("data, optional", [
    (b"TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n", True),
    (b"Subject: x\r\ntls-required:no  \r\n\r\nbody\r\n", True),
    (b"Subject: x\r\nTLS-Required:\r\n No\r\n\r\nbody\r\n", True),     # folded
    (b"Subject: x\r\nTLS-Required: Yes\r\n\r\nbody\r\n", False),
    (b"Subject: x\r\n\r\nTLS-Required: No\r\n", False),               # the body
    (b"X-TLS-Required: No\r\n\r\n", False),
    (None, False),                                                   # gone
])
def test_tls_required_no_header(data, optional):
    assert tls_optional(FakeSpool(data), "Q1") is optional


def test_notice_of_a_requiretls_message_returns_its_header_only():
    """RFC 8689 5: RET=FULL is disregarded; the body that asked for TLS does
    not travel back inside a notice that may go without it."""
    original = b"Subject: the original\r\n\r\nthe secret body\r\n"
    sent = SpoolEntry("HONA0000000000", "a@example.test", [Recipient("x@remote.test")],
                      1700000000.0, len(original), ret="FULL", requiretls=True)
    data = dsn.build("failed", sent, [dsn.Report("x@remote.test", "5.7.30", "no path")],
                     "mail.example.test", io.BytesIO(original))
    assert b"Content-Type: text/rfc822-headers" in data
    assert b"Subject: the original" in data
    assert b"the secret body" not in data
