"""What the certificate in use holds, and whether it is due for renewal.

A certificate is due when it is missing or unreadable, self-signed (the one a new
installation starts with), misses a wanted name, or expires within
acmed.renew_days. python3-acme 2.1 (Debian 12) has no ACME Renewal Information
(RFC 9773), so the window is that fixed one, as certbot's.
"""

import datetime
from typing import NamedTuple

from cryptography import x509


class CertInfo(NamedTuple):
    names: tuple
    issuer: str
    not_after: datetime.datetime
    self_signed: bool

    def days_left(self, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return (self.not_after - now).days


def read(path):
    """The first certificate of the PEM file at `path`; None if there is no
    readable one."""
    try:
        cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    except (OSError, ValueError):
        return None
    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return CertInfo(tuple(names), cert.issuer.rfc4514_string(), _not_after(cert),
                    cert.issuer == cert.subject)


def _not_after(cert):
    # cryptography 42 (Debian 13) added the aware form and deprecated the naive one.
    aware = getattr(cert, "not_valid_after_utc", None)
    return aware or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def why_due(info, wanted, renew_days, now=None):
    """Why the certificate must be renewed (a short phrase), or "" if it need not."""
    if info is None:
        return "no certificate"
    if info.self_signed:
        return "the certificate is self-signed"
    missing = sorted(set(wanted) - set(info.names))
    if missing:
        return "the certificate lacks " + ", ".join(missing)
    left = info.days_left(now)
    if left < renew_days:
        return f"the certificate expires in {left} days"
    return ""
