"""MTA-STS (RFC 8461) in deliverd's outbound path: Knot serves each test domain's
`_mta-sts` TXT record and the address of its mta-sts host, an HTTPS server of
the test serves the policies, and Postfix is every MX, presenting a
certificate of a test CA for mx.goodcert.test only, so that mx.badcert.test
(the same Postfix) presents a certificate not valid for its name."""

import pytest

from checks import assert_clean_log
from harness import wait_for
from outbound_fixtures import SENDER, outbound_config
from outbound_mx import RemoteMX
from outbound_peers import MX_ADDRESS, Knot
from outbound_tls import PolicyServer, TestCA
from mailsuite.core import notify
from mailsuite.core.spool import Spool, new_qid
from mailsuite.core.spoolentry import Options
from test_outbound_delivery import arrived, notices, report, send

STS_ADDRESS = "127.0.0.20"       # the policy server of every domain but cached.test
CACHED_ADDRESS = "127.0.0.21"    # cached.test's, stopped in its test
WAIT = 30


def sts_zone(mx, address=STS_ADDRESS, policy_id="1"):
    return (f"@ MX 10 {mx}\n_mta-sts TXT \"v=STSv1; id={policy_id}\"\n"
            f"mta-sts A {address}\n")


ZONES = {
    "goodcert.test": f"mx A {MX_ADDRESS}\n",
    "badcert.test": f"mx A {MX_ADDRESS}\n" + sts_zone("mx"),
    "enforce.test": sts_zone("mx.goodcert.test."),
    "notnamed.test": sts_zone("mx.goodcert.test."),
    "testing.test": sts_zone("mx.badcert.test."),
    "cached.test": sts_zone("mx.goodcert.test.", CACHED_ADDRESS),
}


def policy(mode, mx):
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n"


POLICIES = {
    "mta-sts.enforce.test": policy("enforce", "*.goodcert.test"),
    "mta-sts.notnamed.test": policy("enforce", "mx.elsewhere.test"),
    "mta-sts.badcert.test": policy("enforce", "mx.badcert.test"),
    "mta-sts.testing.test": policy("testing", "mx.badcert.test"),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot-sts"), zones=ZONES) as server:
        yield server


@pytest.fixture(scope="module")
def postfix(ca, tmp_path_factory):
    files = ca.issue(tmp_path_factory.mktemp("mx-cert"), ["mx.goodcert.test"])
    with RemoteMX(domains=tuple(ZONES), tls_files=files) as server:
        yield server


@pytest.fixture(scope="module")
def policy_server(ca, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sts-cert")
    cert, key = ca.issue(folder, list(POLICIES))
    with PolicyServer(STS_ADDRESS, cert, key, POLICIES) as server:
        yield server


@pytest.fixture
def sts_instance(instance, ca, knot, remote_mx, policy_server):
    """sender_instance (tests/outbound_fixtures.py), also trusting the test CA."""
    instance.add_user(SENDER)
    instance.add_config(outbound_config(knot, remote_mx, ca_file=f'"{ca.cert_path}"'))
    yield instance
    if "deliverd" in instance.logs:
        assert_clean_log(instance, "deliverd")


def queue_record(inst, qid):
    return inst.mailctl("queue", "show", qid).stdout


def test_enforce_with_a_valid_certificate_delivers(sts_instance, remote_mx):
    sts_instance.start("deliverd")
    send(sts_instance, ["someone@enforce.test"], "sts-enforce")
    assert wait_for(lambda: arrived(remote_mx, "someone@enforce.test", "sts-enforce"),
                    WAIT), sts_instance.log("deliverd")[-2000:]
    log = sts_instance.log("deliverd")
    assert "mta-sts: enforce.test: policy 1, mode enforce, mx *.goodcert.test" in log
    assert "relay=mx.goodcert.test[127.0.0.2]" in log


def test_enforce_leaves_out_a_host_the_policy_does_not_name(sts_instance, remote_mx):
    sts_instance.start("deliverd")
    qid = send(sts_instance, ["someone@notnamed.test"], "sts-notnamed")
    reason = ("mx.goodcert.test is not named by the MTA-STS policy of notnamed.test "
              "(enforce)")
    log = sts_instance.log
    assert wait_for(lambda: "dsn=4.7.0, status=deferred" in log("deliverd"), WAIT)
    assert reason in sts_instance.log("deliverd")
    assert f"someone@notnamed.test deferred 4.7.0 notnamed.test: no MX host may " \
           f"be used: {reason}" in queue_record(sts_instance, qid)
    assert not arrived(remote_mx, "someone@notnamed.test", "sts-notnamed")


def test_enforce_refuses_a_certificate_not_valid_for_the_host(sts_instance, remote_mx):
    sts_instance.start("deliverd")
    qid = send(sts_instance, ["someone@badcert.test"], "sts-badcert")
    log = sts_instance.log
    assert wait_for(lambda: "dsn=4.7.5, status=deferred" in log("deliverd"), WAIT)
    reason = ("mx.badcert.test[127.0.0.2]: certificate not valid: Hostname mismatch, "
              "certificate is not valid for 'mx.badcert.test'., as the MTA-STS "
              "policy of badcert.test (enforce) requires")
    assert reason in sts_instance.log("deliverd")
    assert reason in queue_record(sts_instance, qid)
    assert not arrived(remote_mx, "someone@badcert.test", "sts-badcert")


def test_testing_mode_delivers_and_logs_the_failure(sts_instance, remote_mx):
    sts_instance.start("deliverd")
    send(sts_instance, ["someone@testing.test"], "sts-testing")
    assert wait_for(lambda: arrived(remote_mx, "someone@testing.test", "sts-testing"),
                    WAIT)
    assert "mx.badcert.test[127.0.0.2]: certificate not valid: Hostname mismatch" \
           in sts_instance.log("deliverd")
    assert "the MTA-STS policy of testing.test (testing) would refuse it" \
           in sts_instance.log("deliverd")


def test_policy_is_cached_and_enforced_without_its_server(sts_instance, remote_mx, ca,
                                                          tmp_path):
    """The policy names no host of the domain: while it is enforced, nothing is
    delivered. After a restart with the policy server gone, the cached policy
    (same TXT id) still is."""
    cert, key = ca.issue(tmp_path, ["mta-sts.cached.test"])
    server = PolicyServer(CACHED_ADDRESS, cert, key,
                          {"mta-sts.cached.test": policy("enforce", "mx.other.test")})
    with server:
        sts_instance.start("deliverd")
        send(sts_instance, ["someone@cached.test"], "sts-cached")
        assert wait_for(lambda: "not named by the MTA-STS policy of cached.test"
                        in sts_instance.log("deliverd"), WAIT)
    assert server.requests == 1
    assert (sts_instance.state / "outbound" / "mta-sts" / "cached.test").exists()
    sts_instance.stop("deliverd")
    before = sts_instance.log("deliverd").count("policy of cached.test")
    sts_instance.start("deliverd")
    assert wait_for(lambda: sts_instance.log("deliverd").count("policy of cached.test")
                    > before, WAIT)
    assert "no policy fetched" not in sts_instance.log("deliverd")
    assert not arrived(remote_mx, "someone@cached.test", "sts-cached")


def test_requiretls_waits_for_a_peer_that_offers_it_then_returns(sts_instance,
                                                                 remote_mx):
    """RFC 8689: the MX is verified by MTA-STS but Postfix does not offer
    REQUIRETLS: the message is not sent, deferred while it may wait, and
    returned with 5.7.30 when it expires."""
    sts_instance.add_config("[deliverd]\nretry_max = 4\n")
    sts_instance.start("deliverd")
    with Spool(sts_instance.state) as spool:
        spool.enqueue_sync(new_qid(), SENDER, ["someone@enforce.test"],
                           b"Subject: sts-requiretls\r\n\r\nsecret\r\n",
                           options=Options(requiretls=True))
    notify.send(sts_instance.runtime / "deliverd.wakeup")
    assert wait_for(lambda: notices(sts_instance), WAIT), \
        sts_instance.log("deliverd")[-2000:]
    log = sts_instance.log("deliverd")
    assert "certificate verified (MTA-STS policy of enforce.test (enforce))" in log
    assert "dsn=4.7.30, status=deferred (REQUIRETLS: mx.goodcert.test[127.0.0.2] " \
           "does not offer REQUIRETLS; not sent)" in log
    _, [rcpt] = report(notices(sts_instance)[0])
    assert rcpt["Status"] == "5.7.30"
    assert rcpt["Action"] == "failed"
    assert not arrived(remote_mx, "someone@enforce.test", "sts-requiretls")


def test_tls_required_no_goes_despite_a_failing_policy(sts_instance, remote_mx):
    """RFC 8689 5: the header asks that MTA-STS failures not stop the message;
    a message without it, to the same domain at the same time, waits."""
    sts_instance.start("deliverd")
    data = (b"TLS-Required: No\r\nSubject: sts-tls-optional\r\n\r\nbody\r\n")
    send(sts_instance, ["optional@badcert.test"], "sts-tls-optional", data=data)
    send(sts_instance, ["strict@badcert.test"], "sts-tls-strict")
    assert wait_for(lambda: arrived(remote_mx, "optional@badcert.test",
                                    "sts-tls-optional"), WAIT), \
        sts_instance.log("deliverd")[-2000:]
    assert wait_for(lambda: "to=<strict@badcert.test>" in sts_instance.log("deliverd"),
                    WAIT)
    log = sts_instance.log("deliverd")
    assert "TLS-Required: No: sent without the TLS policy of badcert.test" in log
    strict = next(line for line in log.splitlines()
                  if "to=<strict@badcert.test>" in line)
    assert "dsn=4.7.5, status=deferred" in strict
    assert not arrived(remote_mx, "strict@badcert.test", "sts-tls-strict")
