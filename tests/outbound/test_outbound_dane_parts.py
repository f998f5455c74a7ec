"""The parts of DANE that need no peer (RFC 7672): which TLSA records are
usable, how they match a chain, and the name check of DANE-TA."""

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailsuite.outbound import dane
from mailsuite.outbound.dane import TlsFailed, check, usable
from mailsuite.outbound.dns import Tlsa
from outbound_tls import TestCA


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """[leaf for mx.example.test and *.mail.example.test, CA] as DER."""
    folder = tmp_path_factory.mktemp("dane-parts")
    ca = TestCA(folder)
    leaf, _ = ca.issue(folder, ["mx.example.test", "*.mail.example.test"])
    return [x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER) for path in (leaf, ca.cert_path)]


class SslObject:
    """What check() reads of a TLS session: the chain the server sent."""

    def __init__(self, chain):
        self.chain = chain

    def get_unverified_chain(self):
        return self.chain


def tlsa(usage, selector, mtype, der):
    cert = x509.load_der_x509_certificate(der)
    data = der if selector == 0 else cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = {0: lambda d: d, 1: lambda d: hashlib.sha256(d).digest(),
              2: lambda d: hashlib.sha512(d).digest()}[mtype]
    return Tlsa(usage, selector, mtype, digest(data))


def test_only_dane_ta_and_dane_ee_are_usable():
    records = [Tlsa(u, 1, 1, b"x") for u in range(4)] + [Tlsa(3, 2, 1, b"x"),
                                                         Tlsa(3, 1, 3, b"x")]
    assert usable(records) == [Tlsa(2, 1, 1, b"x"), Tlsa(3, 1, 1, b"x")]


@pytest.mark.parametrize("selector, mtype", [(0, 0), (0, 1), (1, 1), (1, 2)])
def test_dane_ee_matches_the_leaf_whatever_its_names(chain, selector, mtype):
    check(SslObject(chain), [tlsa(3, selector, mtype, chain[0])], "other.test")


def test_dane_ee_does_not_match_the_issuer(chain):
    with pytest.raises(TlsFailed, match="matches none of its 1 TLSA records"):
        check(SslObject(chain), [tlsa(3, 1, 1, chain[1])], "mx.example.test")


@pytest.mark.parametrize("host", ["mx.example.test", "a.mail.example.test"])
def test_dane_ta_matches_the_issuer_for_the_names(chain, host):
    check(SslObject(chain), [tlsa(2, 1, 1, chain[1])], host)


@pytest.mark.parametrize("host", ["other.test", "a.b.mail.example.test",
                                  "mail.example.test"])
def test_dane_ta_needs_the_host_name(chain, host):
    with pytest.raises(TlsFailed, match="does not name it"):
        check(SslObject(chain), [tlsa(2, 1, 1, chain[1])], host)


def test_dane_ta_needs_the_leaf_issued_by_the_anchor(chain, tmp_path):
    stranger = TestCA(tmp_path)
    forged = [chain[0], stranger.cert.public_bytes(serialization.Encoding.DER)]
    with pytest.raises(TlsFailed, match="matches none"):
        check(SslObject(forged), [tlsa(2, 1, 1, forged[1])], "mx.example.test")


def test_no_usable_record_asks_only_for_tls(chain):
    check(SslObject(chain), [], "anything.test")


def test_python_3_11_chain_is_read_from_the_ssl_object(chain):
    class Certificate:          # _ssl.Certificate: public_bytes(ENCODING_DER)
        def __init__(self, der):
            self.der = der

        def public_bytes(self, encoding):
            assert encoding == 2
            return self.der

    class Inner:
        def get_unverified_chain(self):
            return [Certificate(d) for d in chain]

    class Old:
        _sslobj = Inner()
    assert dane._chain(Old()) == chain
