"""fetchmail (Debian's) against pop3d, as a mail fetcher runs: over STLS on the
POP3 port and over implicit TLS on the POP3S port, the server's certificate
checked, `keep` with UIDL tracking so that a second run fetches nothing and a
third only what arrived since; and without `keep`, which empties the mailbox.
Plaintext login is refused on the test instance, so fetchmail must use TLS."""

import os
import shutil
import subprocess

import pytest

from mailsuite.core import maildir

USER = "demo@example.test"
PASSWORD = "secret-password"
FETCHMAIL = shutil.which("fetchmail") or "/usr/bin/fetchmail"
MESSAGES = [
    b"From: <alice@example.org>\r\nSubject: first\r\n\r\nHello.\r\n",
    # As another Maildir tool writes it: LF line ends, lines starting with dots.
    b"From: <bob@example.org>\nSubject: second\n\n.\n..two dots\nend\n",
    b"From: <carol@example.org>\r\nSubject: third\r\n\r\n" + b"a line of text\r\n" * 6000,
]
NO_MAIL = 1         # fetchmail's exit status when there was nothing new


@pytest.fixture
def pop(instance):
    instance.add_user(USER, PASSWORD)
    text = instance.config.read_text()
    instance.config.write_text(text.replace("[pop3d]\nplaintext_loopback = true",
                                            "[pop3d]\nplaintext_loopback = false"))
    deliver(instance, *MESSAGES)
    instance.start("pop3d")
    yield instance
    assert "Traceback" not in instance.log("pop3d")


def deliver(instance, *messages):
    with maildir.Store(instance.maildir(USER)) as store:
        for data in messages:
            store.deliver(maildir.unique_base(), data)


class Fetchmail:
    """fetchmail with its own rc file, UIDL list and output folder: each message
    is handed to an MDA that writes it to a file of its own."""

    def __init__(self, instance, base, port_name, keep=True):
        self.base = base
        self.out = base / "out"
        self.out.mkdir(parents=True)
        tls = "ssl sslproto 'TLS1.2+'" if port_name == "pop3s" else "sslproto 'TLS1.2+'"
        rc = (f"set no syslog\nset invisible\n"
              f"poll {instance.hostname} via 127.0.0.1 "
              f"service {instance.port(port_name)} protocol POP3 uidl\n"
              f'  user "{USER}" there with password "{PASSWORD}" is "root" here\n'
              f"  options {'keep' if keep else 'no keep'} {tls} sslcertck\n"
              f'  sslcertfile "{instance.base / "tls/cert.pem"}"\n'
              f'  sslcommonname "{instance.hostname}"\n'
              f"  mda \"/bin/sh -c 'cat > {self.out}/message.$$'\"\n")
        self.rc = base / "fetchmailrc"
        self.rc.write_text(rc)
        self.rc.chmod(0o600)        # fetchmail refuses a readable rc file

    def run(self):
        """(exit status, output)"""
        proc = subprocess.run(
            [FETCHMAIL, "-v", "-f", self.rc, "--idfile", self.base / "fetchids",
             "--pidfile", self.base / "fetchmail.pid"],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, HOME=str(self.base)))
        return proc.returncode, proc.stdout + proc.stderr

    def fetched(self):
        """The messages written so far, their headers as sent."""
        return sorted(path.read_bytes() for path in self.out.iterdir())


def lf(message):
    return message.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("port_name", ["pop3", "pop3s"])
def test_keep_and_uidl_fetch_each_message_once(pop, tmp_path, port_name):
    fetchmail = Fetchmail(pop, tmp_path / "fetchmail", port_name)
    status, output = fetchmail.run()
    assert status == 0, output
    assert fetchmail.fetched() == sorted(lf(m) for m in MESSAGES)
    if port_name == "pop3":
        assert "POP3> STLS" in output and "upgrade to TLS succeeded" in output, output
    assert "login: user=demo@example.test ip=127.0.0.1 method=USER tls=TLSv1" \
        in pop.log("pop3d")

    status, output = fetchmail.run()
    assert status == NO_MAIL, output
    assert len(fetchmail.fetched()) == len(MESSAGES)

    deliver(pop, b"Subject: fourth\r\n\r\nArrived later.\r\n")
    status, output = fetchmail.run()
    assert status == 0, output
    assert b"Subject: fourth\n\nArrived later.\n" in fetchmail.fetched()
    assert len(fetchmail.fetched()) == len(MESSAGES) + 1
    # `keep`: everything is still on the server.
    assert len(pop.inbox_files(USER)) == len(MESSAGES) + 1


def test_without_keep_the_mailbox_is_emptied(pop, tmp_path):
    fetchmail = Fetchmail(pop, tmp_path / "fetchmail", "pop3s", keep=False)
    status, output = fetchmail.run()
    assert status == 0, output
    assert len(fetchmail.fetched()) == len(MESSAGES)
    assert pop.inbox_files(USER) == []
    assert "deleted=3" in pop.log("pop3d")
    status, output = fetchmail.run()
    assert status == NO_MAIL, output
