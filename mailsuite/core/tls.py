"""TLS server contexts, reloaded when the certificate files change.

One context per program; `Credentials.context()` is called for each new TLS session
and re-reads the files only when their modification time changed, so a renewed
certificate (from acmed or certbot) is used without a restart. A reload that fails
keeps the previous certificate and logs why; a self-signed one (what a new
installation serves until acmed has a certificate) is loaded with a warning.

`make_self_signed` writes the certificate a new installation starts with (mailctl
tls self-signed) and the development instance's; cryptography is imported only
there, so the daemons do not load it.
"""

import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from . import files

log = logging.getLogger(__name__)


class TLSUnavailable(Exception):
    """No usable certificate: the program serves no TLS."""


class Credentials:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key
        self._stamp = None
        self._ctx = None

    def _files_stamp(self):
        try:
            return tuple(os.stat(p).st_mtime_ns for p in (self.cert, self.key))
        except OSError:
            return None

    def context(self):
        """The current SSLContext; raises TLSUnavailable if none can be built."""
        stamp = self._files_stamp()
        if stamp is not None and stamp != self._stamp:
            try:
                self._ctx = server_context(self.cert, self.key)
                self._stamp = stamp
            except (OSError, ssl.SSLError) as exc:
                log.error("tls: cannot load %s: %s", self.cert, exc)
            else:
                if is_self_signed(self.cert):
                    log.warning("tls: %s is self-signed: mail clients warn until "
                                "acmed replaces it (mailctl cert status)", self.cert)
        if self._ctx is None:
            raise TLSUnavailable(f"no usable certificate in {self.cert}")
        return self._ctx

    def available(self):
        try:
            self.context()
            return True
        except TLSUnavailable:
            return False


def is_self_signed(cert):
    """Whether the first certificate of the PEM file is its own issuer. The ssl
    module's own decoder keeps cryptography out of the daemons."""
    try:
        decoded = ssl._ssl._test_decode_cert(os.fspath(cert))
    except (OSError, ssl.SSLError, AttributeError):
        return False
    return decoded.get("issuer") == decoded.get("subject")


def server_context(cert, key):
    """A server SSLContext with TLS 1.2 as the floor (RFC 8996, RFC 9325)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cert, key)
    return ctx


def from_config(cfg):
    return Credentials(cfg.tls.cert, cfg.tls.key)


def make_self_signed(cert_path, key_path, names, days=825, gid=None):
    """Write a new key and a self-signed certificate for `names` (host names or IP
    addresses; the first is the subject), each file atomically. Returns the
    certificate's SHA-256 fingerprint (bytes), which users compare in their client.

    The certificate is mode 0644 and the key 0600; with `gid`, both files (and a
    key directory this call creates) get that group, and the key mode 0640, so
    that the programs running as that group can read it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(
                [_general_name(x509, name) for name in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    for path in (Path(cert_path).parent, Path(key_path).parent):
        if not path.exists():
            path.mkdir(mode=0o755 if gid is None else 0o750, parents=True)
            if gid is not None:
                os.chown(path, -1, gid)
    files.write_atomic(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600 if gid is None else 0o640, gid)
    files.write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644, gid)
    return cert.fingerprint(hashes.SHA256())


def _general_name(x509, name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
