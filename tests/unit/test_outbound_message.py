"""outbound.message and outbound.status: what the client sends and how a reply
becomes an outcome."""

import asyncio
import io

import pytest

from mailsuite.core.spool import Spool, new_qid
from mailsuite.outbound import message as outmsg
from mailsuite.outbound.message import Outgoing
from mailsuite.outbound.status import DeliveryFailed, Outcome, parse_record


def stuffed(data, chunk):
    async def run():
        m = Outgoing("Q", "a@b.test", [], len(data), lambda: io.BytesIO(data))
        return b"".join([piece async for piece in m.stuffed()])
    original = outmsg.READ_CHUNK
    outmsg.READ_CHUNK = chunk
    try:
        return asyncio.run(run())
    finally:
        outmsg.READ_CHUNK = original


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_dot_stuffing_whatever_the_chunks(chunk):
    data = b".first\r\nmiddle\r\n.\r\n..two\r\nend."
    assert stuffed(data, chunk) == b"..first\r\nmiddle\r\n..\r\n...two\r\nend.\r\n"


@pytest.mark.parametrize("data", [b".first\r\nmiddle\r\n.\r\n..two\r\nend.",
                                  b"a\r\n.\r\n", b".", b""])
def test_a_message_in_memory_is_stuffed_at_once_as_in_pieces(data):
    m = Outgoing("Q", "a@b.test", [], len(data), None, data=data)
    assert m.stuffed_data() == stuffed(data, 3)


def test_prepare_sees_8bit_and_utf8(tmp_path):
    with Spool(tmp_path) as spool:
        qid = new_qid()
        spool.enqueue_sync(qid, "a@example.test", ["j\u00f6rg@remote.test"],
                           "Subject: caf\u00e9\r\n\r\nx\r\n".encode())
        entry = spool.get(qid)
        m = Outgoing.prepare(entry, entry.recipients, spool)
        assert (m.eight_bit, m.utf8, m.size) == (True, True, entry.size)
        qid = new_qid()
        spool.enqueue_sync(qid, "a@example.test", ["x@remote.test"],
                           b"Subject: x\r\n\r\n")
        entry = spool.get(qid)
        m = Outgoing.prepare(entry, entry.recipients, spool)
        assert (m.eight_bit, m.utf8) == (False, False)


def test_reply_to_outcome():
    assert Outcome.from_reply(250, "2.0.0 Ok")[:2] == ("done", "2.0.0")
    assert Outcome.from_reply(450, "4.2.0 later")[:2] == ("deferred", "4.2.0")
    assert Outcome.from_reply(550, "no such user")[:2] == ("failed", "5.0.0")
    # An enhanced code of the wrong class is not believed.
    assert Outcome.from_reply(550, "4.2.0 odd")[:2] == ("failed", "5.0.0")
    assert Outcome.from_reply(550, "5.1.1 no").record() == "5.1.1 550 5.1.1 no"
    assert parse_record("5.1.1 550 5.1.1 no") == ("5.1.1", "550 5.1.1 no")
    assert parse_record("no status") == (None, "no status")


def test_delivery_failed_outcome():
    assert DeliveryFailed("5.1.10", "null MX").outcome()[:2] == ("failed", "5.1.10")
    assert DeliveryFailed("4.4.1", "refused").outcome()[:2] == ("deferred", "4.4.1")
