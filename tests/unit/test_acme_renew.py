"""mailsuite.acme: when a certificate is due, the names wanted, the back-off, the
hook; the order itself is replaced here (tests/interop/test_acmed.py runs it
against pebble)."""

import datetime
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from mailsuite.acme import certinfo, order, renew, status
from mailsuite.core import config, tls

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)
WANTED = ["mail.example.test", "mta-sts.example.test"]


def ca_signed(path, names, days):
    """A certificate for `names`, issued by another key, valid `days` from NOW."""
    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(names[0]))
            .issuer_name(name("Test CA")).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]), critical=False)
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return certinfo.read(path)


def test_why_due(tmp_path):
    path = tmp_path / "cert.pem"
    assert certinfo.why_due(None, WANTED, 30, NOW) == "no certificate"
    info = ca_signed(path, WANTED, 90)
    assert info.issuer == "CN=Test CA" and not info.self_signed
    assert info.days_left(NOW) == 90
    assert certinfo.why_due(info, WANTED, 30, NOW) == ""
    info = ca_signed(path, WANTED, 29)
    assert certinfo.why_due(info, WANTED, 30, NOW) == "the certificate expires in 29 days"
    info = ca_signed(path, WANTED[:1], 90)
    assert certinfo.why_due(info, WANTED, 30, NOW) == \
        "the certificate lacks mta-sts.example.test"
    tls.make_self_signed(path, tmp_path / "key.pem", WANTED)
    assert certinfo.why_due(certinfo.read(path), WANTED, 30) == \
        "the certificate is self-signed"
    path.write_text("not a certificate")
    assert certinfo.read(path) is None


def test_wanted_names_expand_each_domain_once():
    cfg = config.from_dict({"server": {"hostname": "Mail.Example.test"}, "acmed": {
        "names": ["autoconfig.{domain}", "static.example.test", "mail.example.test"]}})
    assert renew.wanted_names(cfg, ["example.test", "other.test"]) == [
        "mail.example.test", "autoconfig.example.test", "autoconfig.other.test",
        "static.example.test"]


def test_backoff_doubles_up_to_a_day():
    state = status.Status()
    waits = []
    for _ in range(7):
        state = state.failed("no", now=1000.0)
        waits.append(state.next_attempt - 1000.0)
    assert waits == [3600, 7200, 14400, 28800, 57600, 86400, 86400]
    assert state.failures == 7 and state.backing_off(now=1000.0)
    assert not status.Status.succeeded(now=1000.0).backing_off(now=1000.0)


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "tls").mkdir()
    tls.make_self_signed(tmp_path / "tls/cert.pem", tmp_path / "tls/key.pem",
                         ["mail.example.test"])
    path = tmp_path / "mailsuite.toml"
    path.write_text('[server]\nhostname = "mail.example.test"\nstate_dir = "state"\n'
                    '[tls]\ncert = "tls/cert.pem"\nkey = "tls/key.pem"\n'
                    f'[acmed]\nhook = "/bin/sh -c \'echo $MAILSUITE_CERT > '
                    f'{tmp_path}/hook-ran\'"\n')
    return config.load(path)


def failing(*args):
    raise order.OrderFailed("mail.example.test: urn:ietf:params:acme:error:connection")


def test_a_failure_is_recorded_and_backs_off_the_automatic_check(cfg, monkeypatch):
    monkeypatch.setattr(renew, "_renew", failing)
    before = open(cfg.tls.cert, "rb").read()
    with pytest.raises(order.OrderFailed):
        renew.check(cfg)
    saved = json.loads(status.path(cfg).read_text())
    assert saved["failures"] == 1 and "error:connection" in saved["result"]
    outcome = renew.check(cfg)
    assert not outcome.renewed and "backing off after 1 failure(s)" in outcome.message
    with pytest.raises(order.OrderFailed):
        renew.check(cfg, manual=True)       # mailctl cert renew: tries at once
    assert status.load(cfg).failures == 2
    assert open(cfg.tls.cert, "rb").read() == before


def test_a_success_resets_the_backoff_and_runs_the_hook(cfg, monkeypatch, tmp_path):
    cfg.state_path("acme").mkdir(parents=True)
    status.save(cfg, status.Status().failed("earlier"))
    monkeypatch.setattr(renew, "_renew", lambda *args: None)
    outcome = renew.check(cfg, manual=True)
    assert outcome.renewed and outcome.message.startswith(
        "renewed (the certificate is self-signed)")
    assert status.load(cfg).failures == 0 and status.load(cfg).result == "ok"
    assert (tmp_path / "hook-ran").read_text().strip() == cfg.tls.cert


def test_a_certificate_not_due_is_left_alone(cfg, monkeypatch):
    ca_signed(Path(cfg.tls.cert), ["mail.example.test", "autoconfig.example.test",
                                   "mta-sts.example.test"], 3650)
    monkeypatch.setattr(renew, "local_domains", lambda cfg: ["example.test"])
    monkeypatch.setattr(renew, "_renew", failing)
    outcome = renew.check(cfg)
    assert not outcome.renewed and outcome.message.startswith("not due: ")


def test_a_failing_hook_is_logged_and_changes_nothing(cfg, caplog):
    cfg.acmed.hook = "/bin/false"
    renew.run_hook(cfg)
    assert "acme: hook exited 1" in caplog.text


def failed_authorization(name, detail):
    error = messages.Error(typ="urn:ietf:params:acme:error:connection", detail=detail)
    challenge = SimpleNamespace(error=error)
    return SimpleNamespace(body=SimpleNamespace(
        identifier=SimpleNamespace(value=name), challenges=[challenge]))


def test_problem_documents_make_one_short_line():
    one = order.describe(acme_errors.ValidationError(
        [failed_authorization("mail.example.test", "Connection\nrefused")]))
    assert one == ("mail.example.test: urn:ietf:params:acme:error:connection :: The "
                   "server could not connect to the client to verify the domain :: "
                   "Connection refused")
    many = order.describe(acme_errors.ValidationError(
        [failed_authorization(f"n{i}.example.test", "x" * 2000) for i in range(100)]))
    assert "\n" not in many and len(many) <= order.MAX_PROBLEM + 3
