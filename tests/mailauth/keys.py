"""DKIM keys and signatures for the tests, made with python3-dkim (dkimpy) and
PyNaCl: one RSA and one Ed25519 key, their DNS records, and a signer."""

import base64
import functools

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class Key:
    def __init__(self, algorithm, private, record):
        self.algorithm = algorithm      # b"rsa-sha256" or b"ed25519-sha256"
        self.private = private          # what dkim.sign takes
        self.record = record            # the TXT text of the public key

    def sign(self, message, domain, selector, headers=(b"from", b"to", b"subject")):
        field = dkim.sign(message, selector.encode(), domain.encode(), self.private,
                          signature_algorithm=self.algorithm,
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=list(headers))
        return field + message


@functools.lru_cache(maxsize=None)
def rsa_key(bits=2048):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return Key(b"rsa-sha256", pem,
               "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())


@functools.lru_cache(maxsize=None)
def ed25519_key():
    key = nacl.signing.SigningKey.generate()
    private = key.encode(encoder=nacl.encoding.Base64Encoder)
    public = key.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode()
    return Key(b"ed25519-sha256", private, "v=DKIM1; k=ed25519; p=" + public)
