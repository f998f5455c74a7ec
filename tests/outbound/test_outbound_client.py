"""The outbound SMTP client against Postfix, with and without the extensions
it uses: what it sends when the peer offers them, how it degrades when not."""

import asyncio
import email
import email.policy
import io

import pytest

from harness import wait_for
from mailsuite.outbound.client import Session, Timeouts
from mailsuite.outbound.message import Outgoing, Rcpt
from outbound_peers import MX_ADDRESS

TIMEOUTS = Timeouts(10, 10, 20)
WAIT = 30


@pytest.fixture
def peer(postfix):
    """The module's Postfix, offering every extension again after the test."""
    if postfix.replies:
        postfix.answer({})
    yield postfix
    if postfix.configured:
        postfix.configure(smtpd_discard_ehlo_keywords="", message_size_limit=10240000)
        postfix.configured = False


def outgoing(data, recipients, sender="client@example.test", in_memory=False,
             **fields):
    """A message read from a file (as a large one is), or held in memory (as
    a small one is: then the client may pipeline it with the envelope)."""
    rcpts = [r if isinstance(r, Rcpt) else Rcpt(r) for r in recipients]
    return Outgoing("CLIENTTEST0000", sender, rcpts, len(data),
                    lambda: io.BytesIO(data), data=data if in_memory else None,
                    **fields)


def send(peer, message, tls=True):
    """Open a session, send `message`, QUIT; returns (outcomes, session)."""
    async def run():
        session = await Session.open("mx.remote.test", MX_ADDRESS, peer.port,
                                     "client.example.test", TIMEOUTS, tls=tls)
        try:
            return await session.send(message), session
        finally:
            await session.close()
    return asyncio.run(run())


def arrived(peer, address, marker):
    return [m for m in peer.messages(address) if marker.encode() in m]


def test_every_extension_is_used_when_offered(peer):
    outcomes, session = send(peer, outgoing(b"Subject: all\r\n\r\nall\r\n",
                                            ["all@remote.test"]))
    assert outcomes["all@remote.test"].state == "done"
    assert session.tls
    assert {"PIPELINING", "CHUNKING", "8BITMIME", "SMTPUTF8", "DSN",
            "SIZE"} <= set(session.extensions)
    assert wait_for(lambda: " bdat=1 " in peer.log(), WAIT)


def test_whole_message_pipelined_with_the_envelope(peer):
    """PIPELINING and CHUNKING: MAIL, RCPT and BDAT LAST in one write; a
    transaction whose recipients are all refused is reset, and the session
    goes on."""
    peer.answer({"gone@remote.test": "550 5.1.1 gone"})
    async def run():
        session = await Session.open("mx.remote.test", MX_ADDRESS, peer.port,
                                     "client.example.test", TIMEOUTS)
        try:
            first = await session.send(outgoing(b"Subject: refused\r\n\r\nx\r\n",
                                                ["gone@remote.test"], in_memory=True))
            second = await session.send(outgoing(b"Subject: piped\r\n\r\nx\r\n",
                                                 ["piped@remote.test"], in_memory=True))
            return first, second
        finally:
            await session.close()
    first, second = asyncio.run(run())
    assert first["gone@remote.test"][:2] == ("failed", "5.1.1")
    assert second["piped@remote.test"].state == "done"
    assert wait_for(lambda: arrived(peer, "piped@remote.test", "Subject: piped"), WAIT)


def test_data_pipelined_with_the_envelope_without_chunking(peer):
    peer.configure(smtpd_discard_ehlo_keywords="chunking")
    body = b"Subject: piped-data\r\n\r\n.dot\r\n"
    outcomes, session = send(peer, outgoing(body, ["pdata@remote.test"], in_memory=True))
    assert "PIPELINING" in session.extensions
    assert outcomes["pdata@remote.test"].state == "done"
    assert wait_for(lambda: arrived(peer, "pdata@remote.test", "Subject: piped-data"),
                    WAIT)
    assert arrived(peer, "pdata@remote.test", "Subject: piped-data")[0].endswith(
        b"\n\n.dot\n")


def test_data_with_dot_stuffing_without_chunking_and_pipelining(peer):
    peer.configure(smtpd_discard_ehlo_keywords="chunking, pipelining")
    body = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nlast"
    outcomes, session = send(peer, outgoing(body, ["dots@remote.test"]))
    assert "CHUNKING" not in session.extensions
    assert outcomes["dots@remote.test"].state == "done"
    assert wait_for(lambda: arrived(peer, "dots@remote.test", "Subject: dots"), WAIT)
    got = arrived(peer, "dots@remote.test", "Subject: dots")[0]
    assert got.endswith(b"\n\n.one dot\n..two dots\n.\nlast\n")


def test_8bit_message_to_a_peer_without_8bitmime_fails(peer):
    peer.configure(smtpd_discard_ehlo_keywords="8bitmime")
    data = "Subject: eight\r\n\r\ncaf\u00e9\r\n".encode()
    outcomes, _ = send(peer, outgoing(data, ["eight@remote.test"], eight_bit=True))
    assert outcomes["eight@remote.test"][:2] == ("failed", "5.6.3")
    # The same peer takes a 7-bit message.
    outcomes, _ = send(peer, outgoing(b"Subject: seven\r\n\r\n7\r\n",
                                      ["seven@remote.test"]))
    assert outcomes["seven@remote.test"].state == "done"


def test_utf8_address_needs_smtputf8(peer):
    data = b"Subject: utf8\r\n\r\nutf8\r\n"
    outcomes, _ = send(peer, outgoing(data, ["j\u00f6rg@remote.test"], utf8=True))
    assert outcomes["j\u00f6rg@remote.test"].state == "done"
    peer.configure(smtpd_discard_ehlo_keywords="smtputf8")
    outcomes, _ = send(peer, outgoing(data, ["j\u00f6rg@remote.test"], utf8=True))
    assert outcomes["j\u00f6rg@remote.test"][:2] == ("failed", "5.6.7")


def test_message_over_the_peer_size_fails_before_sending(peer):
    peer.configure(message_size_limit=1000)
    data = b"Subject: big\r\n\r\n" + b"x" * 2000 + b"\r\n"
    outcomes, session = send(peer, outgoing(data, ["big@remote.test"]))
    assert session.extensions["SIZE"] == "1000"
    assert outcomes["big@remote.test"][:2] == ("failed", "5.3.4")


def test_dsn_parameters_are_not_sent_to_a_peer_without_dsn(peer):
    peer.configure(smtpd_discard_ehlo_keywords="dsn")
    message = outgoing(b"Subject: no-dsn\r\n\r\nbody\r\n",
                       [Rcpt("nodsn@remote.test", ("SUCCESS",))], envid="env-2")
    outcomes, session = send(peer, message)
    assert "DSN" not in session.extensions
    # RFC 3461 5.2.2: done, but the success is ours to report (Action: relayed).
    assert outcomes["nodsn@remote.test"][:2] == ("done", "2.0.0")
    assert not outcomes["nodsn@remote.test"].passed_on
    assert wait_for(lambda: arrived(peer, "nodsn@remote.test", "Subject: no-dsn"), WAIT)


def test_plain_text_when_tls_is_not_offered(peer):
    peer.configure(smtpd_discard_ehlo_keywords="starttls")
    outcomes, session = send(peer, outgoing(b"Subject: plain\r\n\r\np\r\n",
                                            ["plain@remote.test"]))
    assert not session.tls
    assert outcomes["plain@remote.test"].state == "done"


def test_dsn_parameters_reach_the_peer(peer):
    """ENVID, RET, NOTIFY and ORCPT go on (RFC 3461): Postfix's success notice
    to the sender, a mailbox of its own, carries them back."""
    data = b"Subject: dsn-params\r\n\r\nbody\r\n"
    message = outgoing(data, [Rcpt("dsn-rcpt@remote.test", ("SUCCESS",),
                                   "rfc822;original@example.test")],
                       sender="dsn-sender@remote.test", envid="env+id=1", ret="HDRS")
    outcomes, _ = send(peer, message)
    assert outcomes["dsn-rcpt@remote.test"].state == "done"
    assert outcomes["dsn-rcpt@remote.test"].passed_on     # no notice of ours
    assert wait_for(lambda: peer.messages("dsn-sender@remote.test"), WAIT)
    notice = email.message_from_bytes(peer.messages("dsn-sender@remote.test")[0],
                                      policy=email.policy.default)
    [status] = [p for p in notice.walk()
                if p.get_content_type() == "message/delivery-status"]
    fields, rcpt = status.get_payload()[0], status.get_payload()[1]
    assert fields["Original-Envelope-Id"] == "env+id=1"
    assert rcpt["Original-Recipient"] == "rfc822;original@example.test"
    assert rcpt["Action"] == "delivered"
    # RET=HDRS: only the header section comes back.
    assert any(p.get_content_type() == "text/rfc822-headers" for p in notice.walk())
