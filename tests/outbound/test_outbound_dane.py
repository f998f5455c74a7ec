"""DANE (RFC 7672) in deliverd's outbound path: Knot signs dane.test and serves
plain.test unsigned, unbound validates in front of it (the only nameserver
deliverd asks, so its AD bit is believed), and Postfix is every MX, with a
test CA's certificate for mx.dane.test sent with the CA's own (the chain
DANE-TA matches). Its TLSA records are made from those certificates."""

import pytest

from checks import assert_clean_log
from harness import wait_for
from outbound_dnssec import Unbound
from outbound_fixtures import outbound_config
from outbound_mx import RemoteMX
from outbound_peers import MX_ADDRESS, Knot
from outbound_tls import PolicyServer, TestCA, spki_sha256
from test_outbound_delivery import arrived, send

WAIT = 30
DOMAINS = ("ee.dane.test", "ta.dane.test", "nomatch.dane.test", "noname.dane.test",
           "both.dane.test", "plain.test")
STS_ADDRESS = "127.0.0.22"      # the MTA-STS policy server of both.dane.test
NO_MATCH = "0" * 64


def zones(leaf, ca):
    """mx-ee and mx-noname are not names of the certificate: DANE-EE ignores
    names (RFC 7672 3.1.1), DANE-TA does not (3.2.2)."""
    hosts = "".join(f"{h} A {MX_ADDRESS}\n" for h in ("mx", "mx-ee", "mx-bad",
                                                       "mx-noname"))
    return {
        "dane.test": hosts + (
            "ee MX 10 mx-ee\nta MX 10 mx\nnomatch MX 10 mx-bad\n"
            "noname MX 10 mx-noname\n"
            # An MTA-STS policy that names none of its hosts: DANE wins.
            "both MX 10 mx-ee\n_mta-sts.both TXT \"v=STSv1; id=1\"\n"
            f"mta-sts.both A {STS_ADDRESS}\n"
            f"_25._tcp.mx-ee TLSA 3 1 1 {leaf}\n"
            f"_25._tcp.mx TLSA 2 1 1 {ca}\n"
            f"_25._tcp.mx-bad TLSA 3 1 1 {NO_MATCH}\n"
            f"_25._tcp.mx-noname TLSA 2 1 1 {ca}\n"),
        # Not signed: its TLSA record, which matches nothing, is not believed.
        "plain.test": f"@ MX 10 mx\nmx A {MX_ADDRESS}\n"
                      f"_25._tcp.mx TLSA 3 1 1 {NO_MATCH}\n",
    }


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dane-certs")
    ca = TestCA(folder)
    leaf, key = ca.issue(folder, ["mx.dane.test"])
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.read_bytes() + ca.cert_path.read_bytes())
    return leaf, key, chain, ca


@pytest.fixture(scope="module")
def postfix(certs):
    _, key, chain, _ = certs
    with RemoteMX(domains=DOMAINS, tls_files=(chain, key)) as server:
        yield server


@pytest.fixture(scope="module")
def knot(certs, tmp_path_factory):
    leaf, _, _, ca = certs
    with Knot(tmp_path_factory.mktemp("knot-dane"),
              zones=zones(spki_sha256(leaf), spki_sha256(ca.cert_path)),
              signed=["dane.test"]) as server:
        yield server


@pytest.fixture(scope="module")
def resolver(knot, tmp_path_factory):
    with Unbound(tmp_path_factory.mktemp("unbound"), knot, knot.zones) as server:
        yield server


@pytest.fixture(scope="module")
def policy_server(certs, tmp_path_factory):
    ca = certs[3]
    cert, key = ca.issue(tmp_path_factory.mktemp("sts-cert"),
                         ["mta-sts.both.dane.test"])
    policy = "version: STSv1\nmode: enforce\nmx: mx.other.test\nmax_age: 86400\n"
    with PolicyServer(STS_ADDRESS, cert, key,
                      {"mta-sts.both.dane.test": policy}) as server:
        yield server


@pytest.fixture
def dane_instance(instance, resolver, remote_mx, certs, policy_server):
    instance.add_user("sender@example.test")
    instance.add_config(outbound_config(resolver, remote_mx,
                                        ca_file=f'"{certs[3].cert_path}"'))
    instance.start("deliverd")
    yield instance
    assert_clean_log(instance, "deliverd")


def test_resolver_validates_only_the_signed_zone(resolver):
    assert resolver.validated("_25._tcp.mx.dane.test", "TLSA")
    assert not resolver.validated("_25._tcp.mx.plain.test", "TLSA")


@pytest.mark.parametrize("domain, usage", [("ee.dane.test", "3 1 1"),
                                           ("ta.dane.test", "2 1 1")])
def test_matching_tlsa_record_delivers(dane_instance, remote_mx, domain, usage):
    marker = f"dane-{domain}"
    send(dane_instance, [f"someone@{domain}"], marker)
    assert wait_for(lambda: arrived(remote_mx, f"someone@{domain}", marker), WAIT), \
        dane_instance.log("deliverd")[-2000:]
    host = domain.replace("ee.dane", "mx-ee.dane").replace("ta.dane", "mx.dane")
    assert f"outbound: {host}[127.0.0.2]: certificate verified (DANE TLSA " \
           f"records of {host})" in dane_instance.log("deliverd")


@pytest.mark.parametrize("domain, reason", [
    ("nomatch.dane.test", "the certificate of mx-bad.dane.test matches none of its "
                          "1 TLSA records"),
    ("noname.dane.test", "the certificate of mx-noname.dane.test (issued by a "
                         "DANE-TA trust anchor) does not name it"),
])
def test_tlsa_records_without_a_match_defer(dane_instance, remote_mx, domain, reason):
    qid = send(dane_instance, [f"someone@{domain}"], f"dane-{domain}")
    log = dane_instance.log
    assert wait_for(lambda: "dsn=4.7.5, status=deferred" in log("deliverd"), WAIT), \
        log("deliverd")[-2000:]
    assert reason in dane_instance.log("deliverd")
    assert reason in dane_instance.mailctl("queue", "show", qid).stdout
    assert not arrived(remote_mx, f"someone@{domain}", f"dane-{domain}")


def test_unsigned_zone_is_opportunistic(dane_instance, remote_mx):
    send(dane_instance, ["someone@plain.test"], "dane-plain")
    assert wait_for(lambda: arrived(remote_mx, "someone@plain.test", "dane-plain"),
                    WAIT)
    assert "TLSA" not in dane_instance.log("deliverd")


def test_dane_takes_precedence_over_mta_sts(dane_instance, remote_mx):
    """RFC 8461 2: the enforced policy names no host of both.dane.test, but
    its MX host has a matching DANE-EE record: DANE decides."""
    send(dane_instance, ["someone@both.dane.test"], "dane-both")
    assert wait_for(lambda: arrived(remote_mx, "someone@both.dane.test", "dane-both"),
                    WAIT), dane_instance.log("deliverd")[-2000:]
    log = dane_instance.log("deliverd")
    assert "mta-sts: both.dane.test: policy 1, mode enforce, mx mx.other.test" in log
    assert "mx-ee.dane.test[127.0.0.2]: certificate verified (DANE TLSA records " \
           "of mx-ee.dane.test)" in log
