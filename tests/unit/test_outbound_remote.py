"""outbound.remote without a network: what it does before a connection and
when a worker fails; the SMTP path itself is in tests/outbound/."""

import asyncio
import logging

import pytest

from mailsuite.core import config
from mailsuite.core.spool import Spool, new_qid
from mailsuite.outbound.remote import Remote

MSG = b"Subject: t\r\n\r\nbody\r\n"


@pytest.fixture
def cfg(tmp_path):
    return config.from_dict({"server": {"hostname": "mail.example.test",
                                        "state_dir": str(tmp_path / "state")},
                             "outbound": {"nameservers": ["127.0.0.1:9"],
                                          "dns_timeout": 1.0}},
                            tmp_path / "mailsuite.toml")


def run(cfg, entry_setup, patch=None):
    """Submit one queued message to a Remote and wait until it wakes the
    runner; returns (its qid, the spool's entries after, how often the runner
    was woken)."""
    released = []

    async def main(spool):
        event = asyncio.Event()
        remote = Remote(cfg, spool, lambda: (released.append(1), event.set()))
        if patch:
            patch(remote)
        qid = new_qid()
        spool.enqueue_sync(qid, "a@example.test", ["x@remote.test"], MSG)
        entry = spool.get(qid)
        entry_setup(entry)
        remote.submit(entry, entry.recipients)
        await asyncio.wait_for(event.wait(), 10)
        assert not remote.in_flight
        await remote.close()
        return qid

    with Spool(cfg.state_dir) as spool:
        qid = asyncio.run(main(spool))
        return qid, {e.qid: e for e in spool.entries()}, len(released)


def test_requiretls_message_waits_like_any_other(cfg):
    """RFC 8689 4.2.1: a REQUIRETLS message is tried, and waits for a path
    that can carry it; it is not returned at once (here its DNS fails)."""
    qid, entries, woken = run(cfg, lambda e: setattr(e, "requiretls", True))
    assert list(entries) == [qid]                  # no notice
    assert entries[qid].recipients[0].state == "deferred"
    assert entries[qid].recipients[0].error.startswith("4.4.3 ")
    assert woken == 1


def test_a_failing_worker_lets_its_message_go(cfg, caplog):
    async def broken(domain):
        raise RuntimeError("a bug")

    def patch(remote):
        remote.resolver.route = broken
    caplog.set_level(logging.ERROR, "deliverd")
    qid, entries, woken = run(cfg, lambda e: None, patch)
    assert entries[qid].recipients[0].state == "pending"     # for the next pass
    assert woken == 1
    assert "outbound worker for remote.test failed" in caplog.text
