"""davd's /health and /metrics pages (mailsuite.status), called as WSGI apps on a
configured instance whose sockets the test holds open or closes."""

import datetime
import io
import json
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailsuite import dev
from mailsuite.core import config, notify
from mailsuite.core.spool import Spool, new_qid
from mailsuite.status import health
from mailsuite.status.app import HealthApp, MetricsApp


class Listening:
    """Every socket of the suite's units, held open as systemd would hold them."""

    def __init__(self, base):
        self.base = base
        self.tcp = {}
        self.wakeups = []
        for program, socks in dev.PROGRAMS.items():
            for name, port in socks:
                if port is None:
                    self.wakeups.append(notify.bind(dev.wakeup_path(base / "run", program)))
                else:
                    self.tcp[name] = dev.bind_tcp(0)
                    self.tcp[name].listen()

    def close(self, name):
        self.tcp.pop(name).close()

    def close_all(self):
        for sock in [*self.tcp.values(), *self.wakeups]:
            sock.close()


@pytest.fixture
def site(tmp_path):
    base = tmp_path / "inst"
    (base / "run").mkdir(parents=True)
    (base / "state").mkdir()
    listening = Listening(base)
    ports = {name: sock.getsockname()[1] for name, sock in listening.tcp.items()}
    (base / "mailsuite.toml").write_text(dev.dev_config(extra=dev.health_ports(ports)))
    dev.make_self_signed(base / "tls/cert.pem", base / "tls/key.pem", "mail.example.test")
    yield base, listening
    listening.close_all()


def load(base, extra=""):
    path = base / "mailsuite.toml"
    if extra:
        path.write_text(path.read_text() + extra)
    return config.load(path)


def call(app, remote="127.0.0.1", method="GET", headers=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/", "REMOTE_ADDR": remote,
               "wsgi.input": io.BytesIO(b""), **(headers or {})}
    answer = {}

    def start_response(status, response_headers):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = b"".join(app(environ, start_response))
    return answer


def test_health_is_200_with_every_figure_when_all_is_well(site):
    base, _ = site
    answer = call(HealthApp(load(base)))
    assert answer["status"] == 200, answer["body"]
    assert answer["headers"]["Content-Type"] == "application/json"
    report = json.loads(answer["body"])
    assert report["status"] == "ok"
    checks = report["checks"]
    listening = checks["sockets"]["listening"]
    assert {"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
            "wakeup"} <= set(listening)
    assert all(sock["ok"] for sock in listening.values())
    assert checks["queue"] == {"ok": True, "messages": 0, "oldest_seconds": 0}
    assert checks["disk"]["free_mib"] >= checks["disk"]["min_free_mib"]
    assert 300 < checks["certificate"]["days_left"] < 4000


def test_health_is_503_naming_the_socket_that_is_gone(site):
    base, listening = site
    listening.close("imaps")
    answer = call(HealthApp(load(base)))
    assert answer["status"] == 503
    report = json.loads(answer["body"])
    assert report["status"] == "failing"
    sockets = report["checks"]["sockets"]["listening"]
    assert sockets["imaps"]["ok"] is False
    assert sockets["imap"]["ok"] is True
    assert report["checks"]["disk"]["ok"] is True


def test_health_is_503_when_the_wakeup_socket_is_gone(site):
    base, _ = site
    (base / "run" / dev.wakeup_path(base / "run", "deliverd").name).unlink()
    answer = call(HealthApp(load(base)))
    assert answer["status"] == 503
    assert json.loads(answer["body"])["checks"]["sockets"]["listening"]["wakeup"]["ok"] \
        is False


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small file system: needs root")
def test_health_is_503_when_the_disk_is_nearly_full(site):
    base, _ = site
    state = base / "state"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(state)],
                   check=True)
    try:
        cfg = load(base, "min_free_mib = 4\n")      # appended to [health]
        assert call(HealthApp(cfg))["status"] == 200
        with open(state / "filler", "wb") as filler:
            filler.write(b"\0" * (6 << 20))
        answer = call(HealthApp(cfg))
        assert answer["status"] == 503
        disk = json.loads(answer["body"])["checks"]["disk"]
        assert disk["ok"] is False and disk["free_mib"] < 4
    finally:
        subprocess.run(["umount", str(state)], check=True)


def test_health_is_503_when_the_certificate_has_expired(site):
    base, _ = site
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=100))
            .not_valid_after(now - datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    (base / "tls/cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    answer = call(HealthApp(load(base)))
    assert answer["status"] == 503
    certificate = json.loads(answer["body"])["checks"]["certificate"]
    assert certificate["ok"] is False and certificate["days_left"] < -1


def test_health_counts_the_queue_and_its_oldest_message(site):
    base, _ = site
    cfg = load(base)
    with Spool(cfg.state_dir) as spool:
        for _ in range(3):
            spool.enqueue_sync(new_qid(), "a@example.net", ["b@example.org"],
                               b"Subject: x\r\n\r\nbody\r\n")
    found = health.queue(cfg.state_dir, now=spool_time(cfg) + 90)
    assert found["messages"] == 3
    assert 89 <= found["oldest_seconds"] <= 91


def spool_time(cfg):
    with Spool(cfg.state_dir) as spool:
        return min(entry.arrival for entry in spool.entries())


def test_listening_ports_reads_the_kernel_table(site):
    _, listening = site
    ports = health.listening_ports()
    assert all(sock.getsockname()[1] in ports for sock in listening.tcp.values())
    port = listening.tcp["smtp"].getsockname()[1]
    listening.close("smtp")
    assert port not in health.listening_ports()


@pytest.mark.parametrize("remote, headers, status", [
    ("127.0.0.1", {}, 200),
    ("::1", {}, 200),
    ("::ffff:127.0.0.1", {}, 200),
    ("192.0.2.7", {}, 403),
    ("192.0.2.7", {"HTTP_AUTHORIZATION": "Bearer wrong-token"}, 403),
    ("192.0.2.7", {"HTTP_AUTHORIZATION": "Basic s3cret-token"}, 403),
    ("192.0.2.7", {"HTTP_AUTHORIZATION": "Bearer s3cret-token"}, 200),
    ("", {}, 403),
])
def test_only_loopback_or_the_token_may_read_them(site, remote, headers, status):
    base, _ = site
    cfg = load(base, 'token = "s3cret-token"\n')
    for app in (HealthApp(cfg), MetricsApp(cfg)):
        assert call(app, remote, headers=headers)["status"] == status


def test_without_a_token_configured_no_remote_client_gets_in(site):
    base, _ = site
    answer = call(HealthApp(load(base)), "192.0.2.7",
                  headers={"HTTP_AUTHORIZATION": "Bearer "})
    assert answer["status"] == 403


def test_only_get_and_head(site):
    base, _ = site
    cfg = load(base)
    answer = call(HealthApp(cfg), method="POST")
    assert answer["status"] == 405 and answer["headers"]["Allow"] == "GET, HEAD"
    head = call(HealthApp(cfg), method="HEAD")
    assert head["status"] == 200 and head["body"] == b""
    assert int(head["headers"]["Content-Length"]) > 0


def test_metrics_show_the_queue(site):
    from prometheus_client.parser import text_string_to_metric_families
    base, _ = site
    cfg = load(base)
    with Spool(cfg.state_dir) as spool:
        spool.enqueue_sync(new_qid(), "a@example.net", ["b@example.org"],
                           b"Subject: x\r\n\r\nbody\r\n")
    answer = call(MetricsApp(cfg))
    assert answer["status"] == 200
    assert answer["headers"]["Content-Type"].startswith("text/plain; version=0.0.4")
    found = {sample.name: sample.value for family in
             text_string_to_metric_families(answer["body"].decode())
             for sample in family.samples}
    assert found["mailsuite_queue_messages"] == 1
    assert found["mailsuite_queue_oldest_seconds"] >= 0
