"""Authenticated TLS for the outbound tests: a test certificate authority, and an
HTTPS server that serves MTA-STS policies (RFC 8461 3.3) on port 443 of a
loopback address.

    ca = TestCA(folder)                  # ca.cert_path: what deliverd trusts
    cert, key = ca.issue(folder, ["mx.example.test"])
    spki_sha256(cert)                    # its DANE 3 1 1 / 2 1 1 data, hex
    with PolicyServer(address, cert, key, {"mta-sts.a.test": policy_text}):
        ...                              # https://mta-sts.a.test/.well-known/...
"""

import datetime
import hashlib
import http.server
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

POLICY_PATH = "/.well-known/mta-sts.txt"


class TestCA:
    __test__ = False          # not a test class, whatever pytest thinks

    def __init__(self, folder):
        self.folder = Path(folder)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                  "mailsuite test CA")])
        self.cert = (_builder(self.name, self.name, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = self.folder / "ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, folder, names, stem=None):
        """A key and a certificate for `names` signed by this CA, as files:
        (cert path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        cert = (_builder(subject, self.name, key.public_key())
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .sign(self.key, hashes.SHA256()))
        stem = Path(folder) / (stem or names[0])
        cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_path.chmod(0o600)
        return cert_path, key_path


def spki_sha256(cert_path):
    """The SHA-256 of a PEM certificate's public key, in hex: the data of its
    TLSA records with selector 1, matching type 1 (RFC 6698 2.1)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)))


class PolicyServer:
    """HTTPS on address:443, in a thread: {host name: policy text} served as
    text/plain at POLICY_PATH; `requests` counts the requests served."""

    def __init__(self, address, cert, key, policies):
        self.policies = policies
        self.requests = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = http.server.ThreadingHTTPServer((address, 443), self._handler())
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = None

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                host = (self.headers.get("Host") or "").split(":")[0]
                policy = server.policies.get(host)
                if self.path != POLICY_PATH or policy is None:
                    self.send_error(404)
                    return
                body = policy.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(timeout=20)
            self.thread = None
        self.httpd.server_close()
