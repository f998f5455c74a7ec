"""A private Postfix as the remote MX of the test zones (tests/outbound_peers.py),
and as a relay host that wants a login.

    with RemoteMX() as mx:             # Postfix on 127.0.0.2:<mx.port>
        mx.answer({"later@remote.test": "450 4.2.0 later"})   # until answer({})
        mx.configure(smtpd_discard_ehlo_keywords="chunking")  # main.cf, reloaded
        mx.messages("rcpt@remote.test") -> [bytes]   # what it delivered
    RemoteMX(relay_users={"user": "password"})      # also a relay on 127.0.0.5
    RemoteMX(tls_files=(cert, key))    # its certificate (else a self-signed one)

It keeps its state in a temporary folder of its own and is stopped and removed
afterwards; it never touches the system's Postfix.
"""

import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from mailsuite import dev
from postfixconf import (POSTFIX, command, instance_settings, make_dirs, master_cf,
                         postconf)
from outbound_peers import (MX_ADDRESS, MX_DOMAINS, RELAY_ADDRESS, Peer, Unavailable,
                            free_port, wait_until)



class RemoteMX:
    """A private Postfix on MX_ADDRESS:<port>, receiving for MX_DOMAINS into
    Maildirs under its folder, with opportunistic STARTTLS (a self-signed
    certificate). Needs root (Postfix's master); the folder is outside the test's
    tmp_path because Postfix's delivery agent (as nobody) must reach it."""

    def __init__(self, domains=MX_DOMAINS, addresses=(MX_ADDRESS,), relay_users=None,
                 tls_files=None):
        if os.geteuid() != 0:
            raise Unavailable("a private Postfix instance needs root")
        self.domains = domains
        self.addresses = addresses    # each a listener on the same port
        self.relay_users = relay_users    # {user: password}: a relay listener too
        self.tls_files = tls_files        # (cert, key) files to present
        self.auth = None
        self.base = Path(tempfile.mkdtemp(prefix="mailsuite-mx-"))
        self.base.chmod(0o755)
        self.etc = self.base / "etc"
        self.port = free_port(MX_ADDRESS)
        self.started = False
        self.hidden = set()       # EHLO keywords not offered (configure())
        self.configured = False   # configure() changed main.cf

    def __enter__(self):
        try:
            self._configure()
            self._run(POSTFIX, "-c", self.etc, "start")
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.started = True
        try:
            wait_until(self._listening, "postfix")
        except Unavailable as exc:
            raise Unavailable(f"{exc}: {self.log()[-500:]}") from None
        return self

    def __exit__(self, *exc):
        self.stop()

    def _listening(self):
        try:
            socket.create_connection((MX_ADDRESS, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _configure(self):
        make_dirs(self.base, "mail")
        os.chown(self.base / "mail", 65534, 65534)       # nobody:nogroup
        if self.tls_files is None:
            dev.make_self_signed(self.etc / "cert.pem", self.etc / "key.pem",
                                 "mx.remote.test")
        else:
            shutil.copyfile(self.tls_files[0], self.etc / "cert.pem")
            shutil.copyfile(self.tls_files[1], self.etc / "key.pem")
            (self.etc / "key.pem").chmod(0o600)
        listeners = "".join(f"{address}:{self.port} inet n - n - - smtpd\n"
                            for address in self.addresses)
        if self.relay_users is not None:
            self.auth = DovecotAuth(self.base / "dovecot", self.relay_users)
            listeners += RELAY_LISTENER.format(address=RELAY_ADDRESS, port=self.port,
                                               socket=self.auth.socket)
        (self.etc / "master.cf").write_text(master_cf(listeners))
        (self.etc / "main.cf").write_text("")
        self._write_access({})
        postconf(self.base, self._settings(), Unavailable)

    def _settings(self):
        return instance_settings(self.base, "mx.remote.test") | {
            "inet_interfaces": "loopback-only",
            "mynetworks": "",
            "relay_domains": "",
            "smtpd_recipient_restrictions":
                f"check_recipient_access texthash:{self.etc / 'access'}, "
                "reject_unauth_destination",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_base": self.base / "mail",
            "virtual_mailbox_maps": "static:all/",
            "default_transport": "discard",
            "relay_transport": "discard",
            "virtual_uid_maps": "static:65534",
            "virtual_gid_maps": "static:65534",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": self.etc / "cert.pem",
            "smtpd_tls_key_file": self.etc / "key.pem",
            "smtpd_tls_received_header": "yes",
        }

    def _write_access(self, replies):
        """The recipient access table: address -> an SMTP reply (texthash:
        read when an smtpd process starts; see reload())."""
        path = self.etc / "access"
        path.write_text("".join(f"{addr} {reply}\n" for addr, reply in replies.items()))
        self.replies = dict(replies)

    def answer(self, replies):
        """From now on, answer RCPT TO for these addresses with these replies
        ("450 4.2.0 come back later", "550 5.1.1 no such user"); {} accepts all.
        Returns once a new session gets the new answers (a reload reaches the
        running smtpd processes a moment later)."""
        before = set(self.replies)
        self._write_access(replies)
        if not self.started:
            return
        self._run(POSTFIX, "-c", self.etc, "reload")
        expected = {addr: int(replies.get(addr, "250")[:3])
                    for addr in before | set(replies)}
        wait_until(lambda: self._probe(expected) == expected, "postfix reload")

    def _probe(self, addresses):
        """{address: the code RCPT TO gets now}."""
        try:
            with smtplib.SMTP(MX_ADDRESS, self.port, timeout=5) as smtp:
                smtp.ehlo("probe.test")
                smtp.mail("probe@example.test")
                codes = {addr: smtp.rcpt(addr)[0] for addr in addresses}
                smtp.rset()
                return codes
        except (OSError, smtplib.SMTPException):
            return None

    def configure(self, **settings):
        """Change main.cf settings (smtpd_discard_ehlo_keywords="8bitmime",
        message_size_limit=1000) and reload. Returns once a new session sees
        those two as set."""
        postconf(self.base, settings, Unavailable)
        self._run(POSTFIX, "-c", self.etc, "reload")
        self.configured = True
        shown = set(self.hidden)
        if "smtpd_discard_ehlo_keywords" in settings:
            keywords = settings["smtpd_discard_ehlo_keywords"].split(",")
            self.hidden = {k.strip().upper() for k in keywords if k.strip()}
        shown -= self.hidden
        size = settings.get("message_size_limit")

        def seen():
            features = self._ehlo_features()
            return features is not None and not self.hidden & set(features) \
                and shown <= set(features) \
                and (size is None or features.get("SIZE") == str(size))
        wait_until(seen, "postfix reload")

    def _ehlo_features(self):
        """{KEYWORD: parameters} of a new session's EHLO reply."""
        try:
            with smtplib.SMTP(MX_ADDRESS, self.port, timeout=5) as smtp:
                smtp.ehlo("probe.test")
                return {k.upper(): v for k, v in smtp.esmtp_features.items()}
        except (OSError, smtplib.SMTPException):
            return None

    def _run(self, *argv):
        command(self.base, *argv, error=Unavailable)

    def log(self):
        path = self.base / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def all_messages(self):
        """Every message delivered (one Maildir for all recipients), oldest first."""
        root = self.base / "mail" / "all"
        files = [p for sub in ("new", "cur") if (root / sub).is_dir()
                 for p in (root / sub).iterdir()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.name)]

    def messages(self, address):
        """The messages delivered to `address` (their Delivered-To), oldest first."""
        line = f"Delivered-To: {address}\n".encode()
        return [m for m in self.all_messages() if line in m.split(b"\n\n", 1)[0] + b"\n"]

    def stop(self):
        if self.auth is not None:
            self.auth.stop()
        if self.started:
            self.started = False
            pidfile = self.base / "queue/pid/master.pid"
            pid = int(pidfile.read_text().strip()) if pidfile.exists() else None
            subprocess.run([POSTFIX, "-c", os.fspath(self.etc), "stop"],
                           capture_output=True, timeout=60)
            deadline = time.monotonic() + 20
            while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(self.base, ignore_errors=True)


# The relay host: mail from logged-in clients only, logins checked by Dovecot,
# offered only inside TLS (the client must not send a password in clear).
RELAY_LISTENER = """\
{address}:{port} inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_tls_security_level=may
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path={socket}
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
"""


class DovecotAuth(Peer):
    """A private Dovecot running only its authentication service, for
    Postfix's SASL: the users and their passwords in a passwd-file."""

    LOG = "dovecot.log"

    def __init__(self, base, users):
        self.base = Path(base)
        (self.base / "run").mkdir(parents=True)
        (self.base / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n"
                    for user, password in users.items()))
        (self.base / "dovecot.conf").write_text(DOVECOT_AUTH.format(base=self.base))
        self.socket = self.base / "run" / "auth-postfix"
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c",
                                      os.fspath(self.base / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self.socket.exists, "dovecot auth", self.proc)



DOVECOT_AUTH = """\
instance_name = mailsuite-relay-auth
base_dir = {base}/run
state_dir = {base}
log_path = {base}/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
"""
