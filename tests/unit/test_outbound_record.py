"""outbound.record: outcomes into the spool, expiry, notices, against a real
spool; the clock is a parameter."""

import email
import email.policy

import pytest

from mailsuite.core.spool import Recipient, Spool, new_qid
from mailsuite.outbound.record import Policy, record
from mailsuite.outbound.status import Outcome

POLICY = Policy("mail.example.test", retry_max=1000, delay_warning=100,
                backoff_min=10, backoff_max=40)
MSG = b"Subject: t\r\n\r\nbody\r\n"
OK = Outcome("done", "2.0.0", "250 2.0.0 queued", "mx.remote.test[127.0.0.2]")
LATER = Outcome("deferred", "4.2.0", "450 4.2.0 later", "mx.remote.test[127.0.0.2]")
REFUSED = Outcome("failed", "5.1.1", "550 5.1.1 no", "mx.remote.test[127.0.0.2]")


@pytest.fixture
def spool(tmp_path):
    with Spool(tmp_path) as s:
        yield s


def queued(spool, sender="a@example.test", rcpts=("x@remote.test",)):
    qid = new_qid()
    spool.enqueue_sync(qid, sender, list(rcpts), MSG)
    return spool.get(qid)


def notices(spool, original):
    return [e for e in spool.entries() if e.qid != original.qid]


def test_sent_message_leaves_the_queue(spool):
    entry = queued(spool)
    record(spool, POLICY, entry, {"x@remote.test": OK})
    assert spool.count() == 0


def test_failure_queues_one_notice_from_the_null_sender(spool):
    entry = queued(spool, rcpts=("x@remote.test", "y@remote.test"))
    record(spool, POLICY, entry, {"x@remote.test": REFUSED, "y@remote.test": LATER})
    [notice] = notices(spool, entry)
    assert notice.sender == ""
    assert [r.address for r in notice.recipients] == ["a@example.test"]
    assert b"Final-Recipient: rfc822; x@remote.test" in spool.load(notice.qid)
    assert b"y@remote.test" not in spool.load(notice.qid).split(b"message/rfc822")[0]
    kept = spool.get(entry.qid)
    assert {r.address: r.state for r in kept.recipients} == \
        {"x@remote.test": "failed", "y@remote.test": "deferred"}
    assert kept.recipients[0].error == "5.1.1 550 5.1.1 no"


def test_null_sender_gets_no_notice(spool):
    entry = queued(spool, sender="")
    record(spool, POLICY, entry, {"x@remote.test": REFUSED})
    assert spool.count() == 0


def test_deferral_backs_off_with_jitter(spool):
    entry = queued(spool)
    now = entry.arrival + 1
    record(spool, POLICY, entry, {"x@remote.test": LATER}, now=now)
    kept = spool.get(entry.qid)
    assert kept.attempts == 1
    assert now + 8 <= kept.next_try <= now + 12
    assert notices(spool, entry) == []


def test_expired_deferral_fails_and_is_returned(spool):
    entry = queued(spool)
    outcomes = record(spool, POLICY, entry, {"x@remote.test": LATER},
                      now=entry.arrival + POLICY.retry_max)
    assert outcomes["x@remote.test"][:2] == ("failed", "4.4.7")
    [notice] = notices(spool, entry)
    assert b"Status: 4.4.7" in spool.load(notice.qid)
    assert spool.get(entry.qid) is None


def test_delay_notice_is_sent_once(spool):
    entry = queued(spool)
    late = entry.arrival + POLICY.delay_warning
    record(spool, POLICY, entry, {"x@remote.test": LATER}, now=late - 1)
    assert notices(spool, entry) == []
    record(spool, POLICY, spool.get(entry.qid), {"x@remote.test": LATER}, now=late)
    [notice] = notices(spool, entry)
    assert b"Action: delayed" in spool.load(notice.qid)
    record(spool, POLICY, spool.get(entry.qid), {"x@remote.test": LATER}, now=late + 50)
    assert len(notices(spool, entry)) == 1


def test_backoff_is_capped():
    assert POLICY.backoff_max * 0.8 <= POLICY.backoff(20) <= POLICY.backoff_max * 1.2


def asking(spool, notify):
    qid = new_qid()
    spool.enqueue_sync(qid, "a@example.test", [Recipient("x@remote.test",
                                                         notify=notify)], MSG)
    return spool.get(qid)


def status_fields(data):
    notice = email.message_from_bytes(data, policy=email.policy.default)
    [part] = [p for p in notice.iter_parts()
              if p.get_content_type() == "message/delivery-status"]
    return part.get_payload()[1]


def test_success_to_a_peer_without_dsn_is_reported_as_relayed(spool):
    entry = asking(spool, ("SUCCESS",))
    record(spool, POLICY, entry, {"x@remote.test": OK})
    [notice] = spool.entries()
    assert (notice.sender, [r.address for r in notice.recipients]) == \
        ("", ["a@example.test"])
    rcpt = status_fields(spool.load(notice.qid))
    assert (rcpt["Action"], rcpt["Status"]) == ("relayed", "2.0.0")


@pytest.mark.parametrize("notify, outcome", [
    (("SUCCESS",), OK._replace(passed_on=True)),    # the peer reports it
    (("FAILURE",), OK),                               # not asked
    ((), OK),
])
def test_no_success_notice_from_us(spool, notify, outcome):
    entry = asking(spool, notify)
    record(spool, POLICY, entry, {"x@remote.test": outcome})
    assert spool.count() == 0
