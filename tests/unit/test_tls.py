"""core.tls: a context from PEM files, TLS 1.2 as the floor, reload on change."""

import os
import ssl
import time

import pytest

from mailsuite.core import tls
from mailsuite.dev import make_self_signed


def test_context_and_reload(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "one.example.test")
    creds = tls.Credentials(cert, key)
    first = creds.context()
    assert first.minimum_version == ssl.TLSVersion.TLSv1_2
    assert creds.context() is first            # unchanged files: same context
    make_self_signed(cert, key, "two.example.test")
    later = time.time() + 5
    os.utime(cert, (later, later))
    second = creds.context()
    assert second is not first


def test_broken_replacement_keeps_the_old_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "one.example.test")
    creds = tls.Credentials(cert, key)
    first = creds.context()
    cert.write_text("not a certificate")
    later = time.time() + 5
    os.utime(cert, (later, later))
    assert creds.context() is first


def test_missing_files_mean_no_tls(tmp_path):
    creds = tls.Credentials(tmp_path / "nope.pem", tmp_path / "nope.key")
    assert not creds.available()
    with pytest.raises(tls.TLSUnavailable):
        creds.context()


def test_a_self_signed_certificate_is_served_with_a_warning(tmp_path, caplog):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "one.example.test")
    assert tls.is_self_signed(cert)
    tls.Credentials(cert, key).context()
    assert any("self-signed" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")


def test_a_missing_certificate_is_not_called_self_signed(tmp_path):
    assert not tls.is_self_signed(tmp_path / "nope.pem")
