"""mailctl tls self-signed (and core.tls.make_self_signed under it): the files, their
modes and group, the names in the certificate, and the refusals."""

import os
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from mailsuite.core import tls

OK, ERROR, USAGE = 0, 1, 2


@pytest.fixture
def fresh(instance):
    """An instance whose certificate and key are not there yet."""
    instance.state.mkdir(exist_ok=True)
    for name in ("cert.pem", "key.pem"):
        (instance.base / "tls" / name).unlink()
    return instance


def names_in(path):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    return [str(value) for value in san.value.get_values_for_type(x509.DNSName)] + \
        [str(value) for value in san.value.get_values_for_type(x509.IPAddress)]


def test_creates_a_usable_pair_for_the_hostname(fresh):
    proc = fresh.mailctl("tls", "self-signed")
    cert, key = fresh.base / "tls/cert.pem", fresh.base / "tls/key.pem"
    assert proc.stdout.startswith(f"{cert}: SHA-256 fingerprint ")
    assert len(proc.stdout.split()[-1].split(":")) == 32
    assert names_in(cert) == ["mail.example.test"]
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    # Run as root, the key goes to the state dir's group, readable by it only.
    mode = 0o640 if os.geteuid() == 0 else 0o600
    assert stat.S_IMODE(key.stat().st_mode) == mode
    if os.geteuid() == 0:
        assert key.stat().st_gid == fresh.state.stat().st_gid


def test_hostname_options_name_the_certificate(fresh):
    fresh.mailctl("tls", "self-signed", "--hostname", "mx.example.test",
                  "--hostname", "127.0.0.1", "--days", "2")
    assert names_in(fresh.base / "tls/cert.pem") == ["mx.example.test", "127.0.0.1"]


def test_an_existing_certificate_is_kept(instance):
    before = (instance.base / "tls/cert.pem").read_bytes()
    proc = instance.mailctl("tls", "self-signed", check=False)
    assert proc.returncode == ERROR
    assert proc.stderr == (f"mailctl: {instance.base / 'tls/cert.pem'} exists "
                           "(--force replaces it)\n")
    proc = instance.mailctl("tls", "self-signed", "--if-missing")
    assert proc.stdout == proc.stderr == ""
    assert (instance.base / "tls/cert.pem").read_bytes() == before
    instance.mailctl("tls", "self-signed", "--force")
    assert (instance.base / "tls/cert.pem").read_bytes() != before


def test_force_and_if_missing_exclude_each_other(instance):
    proc = instance.mailctl("tls", "self-signed", "--force", "--if-missing", check=False)
    assert proc.returncode == USAGE


def test_group_and_modes_of_a_new_directory(tmp_path):
    gid = os.getgid()
    tls.make_self_signed(tmp_path / "t/cert.pem", tmp_path / "t/key.pem",
                         ["mx.example.test"], gid=gid)
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "t/key.pem").stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path / "t")) == ["cert.pem", "key.pem"]
