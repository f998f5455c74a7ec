"""Mail submitted to submitd leaves signed: swaks submits a small message and one
big enough to be spooled in a file, deliverd delivers both, and the delivered
files' DKIM signatures (made by the From domain's keys) pass independent
verifiers that look the keys up in DNS (opendkim-testmsg: Ed25519 and RSA;
Mail::DKIM: RSA), with the records `mailctl dns` printed served by knot."""

import shutil
import subprocess

import pytest

from dnsns import run_with_zone
from harness import wait_for
from test_dkim_verify import VERIFY, _parse, mail_dkim

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
DEMO = "demo@example.test"
BOB = "bob@example.test"
PASSWORD = "dkim-submit-password"
BIG_LINES = 20000             # about 600 KiB: past the spool's in-record limit


@pytest.fixture
def signed_suite(instance):
    instance.add_user(DEMO, PASSWORD)
    instance.add_user(BOB, "bob-password")
    instance.mailctl("dkim", "generate", "example.test")
    instance.start("submitd", "deliverd")
    return instance


def submit(inst, subject, body, folder):
    text = folder / f"body-{len(body)}.txt"
    text.write_text(body)
    proc = subprocess.run(
        [SWAKS, "--server", "127.0.0.1", "--port", str(inst.port("submission")),
         "--tls", "--auth", "PLAIN", "--auth-user", DEMO, "--auth-password", PASSWORD,
         "--from", DEMO, "--to", BOB, "--header", f"Subject: {subject}",
         "--body", f"@{text}", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-3000:]


def test_submitted_mail_is_signed_and_verifies(signed_suite, tmp_path):
    inst = signed_suite
    submit(inst, "small and signed", "Hello Bob,\n\nsigned by submitd.\n", tmp_path)
    big = "".join(f"line {n} of a big  message \t\n" for n in range(BIG_LINES))
    submit(inst, "big and signed", big, tmp_path)
    files = wait_for(lambda: len(inst.inbox_files(BOB)) == 2 and inst.inbox_files(BOB))
    assert files
    copies = []
    for number, path in enumerate(sorted(files)):
        content = path.read_bytes()
        # Both signatures on top, made with the From domain's keys.
        assert content.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;"), content[:300]
        assert content.count(b"DKIM-Signature:") == 2
        assert b" d=example.test;" in content.split(b"\r\n\r\n")[0]
        for kind in ("message", "tampered"):
            copy = tmp_path / f"{number}.{kind}"
            copy.write_bytes(content if kind == "message"
                             else content[:-4] + b"XX" + content[-2:])
            copies.append(copy)
    assert any(p.stat().st_size > 500_000 for p in copies)
    records = inst.mailctl("dns", "example.test").stdout.splitlines()
    proc = run_with_zone(tmp_path / "dns", "example.test", records,
                         ["/bin/sh", "-c", VERIFY, "sh", *map(str, copies)], b"")
    assert proc.returncode == 0, proc.stderr.decode()
    verdicts = _parse(proc.stdout.decode())
    for number in range(2):
        status, lines = verdicts[f"{number}.message"]
        assert status == 0, lines
        assert mail_dkim(lines)["rsa-sha256"] == "pass", lines
        status, lines = verdicts[f"{number}.tampered"]
        assert status != 0, lines
        assert mail_dkim(lines)["rsa-sha256"].startswith("fail"), lines


def test_a_domain_without_keys_is_not_signed(instance, tmp_path):
    instance.add_user(DEMO, PASSWORD)
    instance.add_user(BOB, "bob-password")
    instance.start("submitd", "deliverd")
    submit(instance, "unsigned", "no keys, no signature\n", tmp_path)
    files = wait_for(lambda: instance.inbox_files(BOB))
    content = files[0].read_bytes()
    assert b"DKIM-Signature" not in content
    assert content.startswith(b"Received: by mail.example.test (mailsuite) with ESMTPSA")
