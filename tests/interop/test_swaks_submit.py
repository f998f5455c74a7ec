"""submitd with a real client: swaks (Debian's swaks package) submits with AUTH PLAIN
and AUTH LOGIN over port 587 after STARTTLS and over 465 in implicit TLS, and is
refused without AUTH, with a wrong password, and for a sender the user does not
own. What it submits is delivered locally at once by deliverd."""

import shutil
import subprocess

import pytest

from harness import wait_for

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
DEMO = "demo@example.test"
BOB = "bob@example.test"
PASSWORD = "swaks-submit-password"


@pytest.fixture
def suite(instance):
    instance.add_user(DEMO, PASSWORD)
    instance.add_user(BOB, "bob-password")
    instance.mailctl("alias", "add", "info@example.test", DEMO)
    instance.start("submitd", "deliverd")
    return instance


def swaks(inst, *args, port="submission", sender=DEMO, tls=True):
    """Run swaks against submitd; returns (exit status, transcript and errors)."""
    connection = ["--tls"] if port == "submission" else ["--tls-on-connect"]
    proc = subprocess.run(
        [SWAKS, "--server", "127.0.0.1", "--port", str(inst.port(port)),
         "--helo", "client.test", "--from", sender, "--to", BOB,
         "--header", "Subject: swaks submission", "--timeout", "30",
         *(connection if tls else []), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return proc.returncode, proc.stdout.decode(errors="replace")


def login(mechanism, password=PASSWORD):
    return ["--auth", mechanism, "--auth-user", DEMO, "--auth-password", password]


@pytest.mark.parametrize("port", ["submission", "submissions"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_submits_with_auth(suite, port, mechanism):
    status, out = swaks(suite, *login(mechanism), port=port)
    assert status == 0, out[-3000:]
    assert "235 2.7.0" in out and "queued as" in out
    if mechanism == "LOGIN":
        assert "334 VXNlcm5hbWU6" in out      # the server's prompts, not a shortcut
    files = wait_for(lambda: suite.inbox_files(BOB))
    assert len(files) == 1
    content = files[0].read_bytes()
    assert b"Subject: swaks submission" in content
    assert content.startswith(b"Received: by mail.example.test (mailsuite) with ESMTPSA")


def test_swaks_is_refused_without_auth(suite):
    status, out = swaks(suite)
    assert status != 0
    assert "530 5.7.0 Authentication required" in out
    assert not suite.inbox_files(BOB)


def test_swaks_is_refused_without_tls(suite):
    # AUTH is not offered before STARTTLS: swaks sends no credentials.
    status, out = swaks(suite, *login("PLAIN"), tls=False)
    assert status != 0
    assert "Host did not advertise authentication" in out
    assert " -> AUTH" not in out and " -> MAIL" not in out


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_wrong_password_is_refused(suite, mechanism):
    status, out = swaks(suite, *login(mechanism, "not-the-password"))
    assert status != 0
    assert "535 5.7.8" in out
    assert "login failed: user=demo@example.test" in suite.log("submitd")


def test_swaks_sender_not_owned_is_refused(suite):
    status, out = swaks(suite, *login("PLAIN"), sender=BOB)
    assert status != 0
    assert "553 5.7.1" in out
    status, out = swaks(suite, *login("LOGIN"), sender="info@example.test")
    assert status == 0, out[-3000:]
