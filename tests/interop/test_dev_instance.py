"""`make run`'s launcher, run for real: it provisions a fresh instance folder and
serves mail with no other step (swaks in on the MX port and on the submission
port with AUTH, IMAPS and POP3S out), then stops cleanly."""

import http.client
import imaplib
import os
import poplib
import signal
import socket
import ssl
import subprocess
import time

from harness import ROOT, wait_for
from mailsuite import dev

OFFSET = 31000          # away from the default dev ports a developer may be using


def read_banner(proc, timeout=30):
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "IMAPS" in line:
            return "".join(lines)
    return "".join(lines)


def test_dev_instance_serves_mail_and_stops_cleanly(tmp_path):
    base = tmp_path / "dev"
    proc = subprocess.Popen(
        [str(ROOT / "bin/mailsuite-dev"), "--dir", str(base), "--port-offset", str(OFFSET)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        banner = read_banner(proc)
        assert "demo@example.test" in banner, banner
        password = (base / "demo-password").read_text().strip()
        assert (base / "demo-password").stat().st_mode & 0o077 == 0
        body = "Hello from swaks via the dev instance"
        sent = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(1025 + OFFSET), "--helo", "client.test",
             "--to", "demo@example.test", "--from", "someone@sender.test",
             "--body", body, "--header", "Subject: dev instance"],
            capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert f"127.0.0.1:{1587 + OFFSET}" in banner, banner
        submitted = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(1587 + OFFSET), "--tls",
             "--auth", "PLAIN", "--auth-user", "demo@example.test",
             "--auth-password", password, "--to", "demo@example.test",
             "--from", "demo@example.test", "--body", "submitted",
             "--header", "Subject: dev submission"],
            capture_output=True, text=True, timeout=60)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        ctx = ssl.create_default_context(cafile=str(base / "tls/cert.pem"))
        ctx.check_hostname = False

        def fetched():
            with imaplib.IMAP4_SSL("127.0.0.1", 1993 + OFFSET, ssl_context=ctx) as imap:
                imap.login("demo@example.test", password)
                imap.select("INBOX")
                typ, data = imap.fetch("1:*", "(BODY.PEEK[])")
                return [part[1] for part in data if isinstance(part, tuple)]

        messages = wait_for(lambda: len(fetched()) == 2 and fetched(), timeout=15,
                            interval=0.2)
        assert messages and any(body.encode() in m for m in messages), messages
        assert any(b"Subject: dev submission" in m for m in messages), messages
        pop = poplib.POP3_SSL("127.0.0.1", 1995 + OFFSET, context=ctx, timeout=10)
        pop.user("demo@example.test")
        pop.pass_(password)
        retrieved = [b"\r\n".join(pop.retr(number)[1]) for number in (1, 2)]
        assert any(body.encode() in message for message in retrieved), retrieved
        pop.quit()
        web = http.client.HTTPConnection("127.0.0.1", 1080 + OFFSET, timeout=10)
        web.request("GET", "/anything", headers={"Host": "mail.example.test"})
        reply = web.getresponse()
        assert (reply.status, reply.getheader("Location")) == \
            (301, "https://mail.example.test/anything")
        web.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "acme: ordering" not in out, out     # acmed asks no CA in make run
    assert "Traceback" not in out, out
    assert "did not stop" not in out, out

    # A second run reuses the folder: same password, the message still there.
    again = subprocess.Popen(
        [str(ROOT / "bin/mailsuite-dev"), "--dir", str(base), "--port-offset", str(OFFSET)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        read_banner(again)
        assert (base / "demo-password").read_text().strip() == password
    finally:
        os.killpg(again.pid, signal.SIGINT)
        out, _ = again.communicate(timeout=30)
    assert again.returncode == 0, out
    # Stopped at once, even right after start: no daemon lost the signal.
    assert "did not stop" not in out, out


def test_a_busy_port_is_named_with_the_way_out(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 1025 + OFFSET + 7))
    busy.listen(1)
    try:
        proc = subprocess.run(
            [str(ROOT / "bin/mailsuite-dev"), "--dir", str(tmp_path / "dev"),
             "--port-offset", str(OFFSET + 7)],
            capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{1025 + OFFSET + 7} for smtpd (smtp)" in proc.stderr
    assert "make run PORT_OFFSET=" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_acme_once_runs_one_renewal(tmp_path):
    base = tmp_path / "dev"
    base.mkdir()
    (base / "mailsuite.toml").write_text(dev.dev_config(
        extra='[acmed]\nenabled = false\ndirectory = "https://127.0.0.1:1/dir"\n'))
    proc = subprocess.Popen(
        [str(ROOT / "bin/mailsuite-dev"), "--dir", str(base), "--port-offset",
         str(OFFSET + 14), "--acme-once"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                "`mailctl cert renew` exited" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    out = "".join(lines) + out
    assert "acme: renewing the certificate once (--acme-once)" in out, out
    assert "mailctl: renewal failed: cannot reach https://127.0.0.1:1/dir" in out, out
    assert "acme: `mailctl cert renew` exited 1" in out, out
    assert proc.returncode == 0, out
