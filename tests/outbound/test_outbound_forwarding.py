"""Forwarding: a local alias whose target is in another domain, delivered by
the remote path to the Postfix MX with the envelope it came with (RFC 5321
3.9.1, decision 0015), and never looping back to this server."""

from harness import wait_for
from outbound_fixtures import SENDER
from test_outbound_delivery import (WAIT, arrived, message, notices, queue_size,
                                    report, send)

OUTSIDER = "someone@elsewhere.test"     # a sender from another domain, as from the MX


def test_alias_to_a_remote_address_is_delivered_there(sender_instance, remote_mx):
    inst = sender_instance
    inst.mailctl("alias", "add", "fwd@example.test", "friend@remote.test", SENDER)
    inst.start("deliverd")
    qid = send(inst, ["fwd@example.test"], "forwarded", sender=OUTSIDER,
               data=message("forwarded", "fwd@example.test"))
    assert wait_for(lambda: arrived(remote_mx, "friend@remote.test", "forwarded"), WAIT)
    [copy] = arrived(remote_mx, "friend@remote.test", "forwarded")
    # The envelope sender is the original one, the body unchanged.
    assert f"Return-Path: <{OUTSIDER}>".encode() in copy
    assert copy.endswith(b"\n\nbody\n")
    assert wait_for(lambda: queue_size(inst) == 0, WAIT)
    assert len(inst.inbox_files(SENDER)) == 1           # the local target's copy
    log = inst.log("deliverd")
    assert f"{qid}: to=<friend@remote.test>, orig_to=<fwd@example.test>" in log
    assert f"{qid}: to=<friend@remote.test>, relay=mx.remote.test[127.0.0.2]" in log


def test_remote_target_that_leads_back_here_does_not_loop(sender_instance, remote_mx):
    inst = sender_instance
    inst.mailctl("alias", "add", "circle@example.test", "back@loop.test")
    inst.start("deliverd")
    qid = send(inst, ["circle@example.test"], "circle")
    assert wait_for(lambda: notices(inst), WAIT)
    [notice] = notices(inst)
    _, [rcpt] = report(notice)
    assert rcpt["Final-Recipient"] == "rfc822; back@loop.test"
    assert rcpt["Original-Recipient"] == "rfc822; circle@example.test"
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", "5.4.6")
    assert wait_for(lambda: queue_size(inst) == 0, WAIT)
    log = inst.log("deliverd")
    assert log.count(f"{qid}: to=<back@loop.test>, relay=") == 1
    assert "loops back to this server" in log
    assert not [m for m in remote_mx.all_messages() if b"Subject: circle\n" in m]
