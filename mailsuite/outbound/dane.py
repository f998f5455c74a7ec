"""DANE for SMTP (RFC 7672): a mail host's certificate checked against its
validated TLSA records, after an unauthenticated handshake.

    usable(records) -> [Tlsa]            # RFC 7672 3.1.3: usages 2 and 3 only
    check(ssl_object, records, host)     # raises TlsFailed

DANE-EE(3) matches the server's own certificate (or its public key) and
ignores its names and dates (RFC 7672 3.1.1); DANE-TA(2) matches a trust
anchor among the certificates the server sent, from which the server's
certificate must be issued, and whose names must include the host's (3.1.2,
3.2.2). With validated TLSA records none of which is usable, TLS is still
required, without authentication (2.2).
"""

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

DANE_TA, DANE_EE = 2, 3
DIGESTS = {0: None, 1: hashlib.sha256, 2: hashlib.sha512}    # RFC 6698 2.1.3


class TlsFailed(Exception):
    """The session fails its host's TLS policy: the message says how."""

    def __init__(self, text, status="4.7.5"):
        super().__init__(text)
        self.status = status      # RFC 3463 X.7.5: cryptographic failure


def usable(records):
    return [r for r in records if r.usage in (DANE_TA, DANE_EE)
            and r.selector in (0, 1) and r.mtype in DIGESTS]


def check(ssl_object, records, host):
    """Raises TlsFailed unless the chain the server sent matches one of
    `records`; no records: nothing to match (mandatory unauthenticated TLS)."""
    if not records:
        return
    chain = [x509.load_der_x509_certificate(der) for der in _chain(ssl_object)]
    if not chain:
        raise TlsFailed(f"{host} sent no certificate")
    if any(_matches(r, chain[0]) for r in records if r.usage == DANE_EE):
        return
    for record in (r for r in records if r.usage == DANE_TA):
        for depth, cert in enumerate(chain):
            if _matches(record, cert) and _issued_along(chain[:depth + 1]):
                _check_name(chain[0], host)
                return
    raise TlsFailed(f"the certificate of {host} matches none of its "
                    f"{len(records)} TLSA records")


def _chain(ssl_object):
    """The certificates the server sent, its own first, as DER."""
    get = getattr(ssl_object, "get_unverified_chain", None)
    if get is None:            # Python < 3.13: the same call, not yet public
        get = ssl_object._sslobj.get_unverified_chain
    chain = get() or []
    return [c if isinstance(c, bytes) else c.public_bytes(_DER) for c in chain]


_DER = 2                       # ssl's _ssl.ENCODING_DER


def _matches(record, cert):
    if record.selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    else:
        data = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = DIGESTS[record.mtype]
    return (digest(data).digest() if digest else data) == record.data


def _issued_along(chain):
    """Each certificate of `chain` was signed by the one after it."""
    return all(_signed_by(cert, issuer) for cert, issuer in zip(chain, chain[1:]))


def _signed_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _check_name(cert, host):
    """RFC 7672 3.2.2, RFC 6125 6.4.3: the host name among the certificate's
    DNS names, a wildcard standing for one whole leftmost label."""
    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host or (name.startswith("*.") and
                            host.partition(".")[2] == name[2:] and "." in host):
            return
    raise TlsFailed(f"the certificate of {host} (issued by a DANE-TA trust "
                    "anchor) does not name it")
