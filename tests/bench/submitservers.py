"""The servers the submission bench (submitbench.py) compares, each taking mail
over implicit TLS (port 465's way, RFC 8314 3.3) from a user who logs in with
AUTH PLAIN, and queueing it without delivering it:

  OursSubmit(base, sign=True)   submitd from a test Instance, the domain's
                                rsa-sha256 and ed25519-sha256 keys made by
                                `mailctl dkim generate`; sign=False makes no
                                keys and sets `[dkim] sign = false`. deliverd
                                is not run.
  PostfixSubmit(base, keys)     a private Postfix smtpd with SASL through a
                                private Dovecot auth service, the sender's
                                login checked (reject_sender_login_mismatch),
                                two opendkim milters signing with the same
                                two keys, every message put on hold.

Each is stopped and its processes ended by stop(); neither touches a system
service or its configuration.

    start_opendkim(conf, settings) -> (process, socket)   # any opendkim milter
"""

import os
import socket
import subprocess

from harness import Instance
from outbound_mx import DovecotAuth
from outbound_peers import wait_until
from postfixconf import command, instance_settings, make_dirs, master_cf, postconf
from servers import POSTCONF, POSTFIX, Unavailable, free_port, wait_listening

from mailsuite import dev

USER = "demo@example.test"
PASSWORD = "bench-password"
RCPT = "someone@remote.test"     # queued, never sent: deliverd is not run
DOMAIN = "example.test"
OPENDKIM = "/usr/sbin/opendkim"

# No rate limit (200 an hour by default) and room for every bench session
# from the one client address.
OURS_CONFIG = ("[submitd]\nrate_limit = 0\nmax_sessions = 0\n"
               "max_sessions_per_address = 0\n")


class OursSubmit:
    def __init__(self, base, sign=True):
        self.name = "mailsuite" if sign else "mailsuite-nosign"
        self.inst = Instance(base, extra_config=OURS_CONFIG
                             + ("" if sign else "[dkim]\nsign = false\n"))
        try:
            self.inst.add_user(USER, PASSWORD)
            if sign:
                self.inst.mailctl("dkim", "generate", DOMAIN)
            self.inst.start("submitd")
        except BaseException as exc:
            self.inst.close()
            if isinstance(exc, AssertionError):
                raise Unavailable(str(exc).splitlines()[0]) from None
            raise
        self.port = self.inst.port("submissions")
        wait_listening(self.port)

    def keys(self):
        """{algorithm: (selector, private key path)} of the active keys."""
        root = self.inst.state / "dkim" / DOMAIN
        found = {}
        for path in root.glob("*.key"):
            selector, algorithm, _ = path.name.rsplit(".", 2)
            found[algorithm] = (selector, path)
        return found

    def log(self):
        return self.inst.log("submitd")

    def stop(self):
        self.inst.close()


class PostfixSubmit:
    name = "postfix+opendkim"

    def __init__(self, base, keys):
        if os.geteuid() != 0:
            raise Unavailable("a private Postfix instance needs root")
        for tool in (POSTFIX, POSTCONF, OPENDKIM):
            if not os.access(tool, os.X_OK):
                raise Unavailable(f"{tool} missing (make deps --bench installs it)")
        self.base, self.etc = base, base / "etc"
        self.port = free_port()
        self.auth, self.milters = None, []     # [(opendkim process, its socket)]
        self.started = False
        make_dirs(base)
        try:
            for algorithm, (selector, path) in sorted(keys.items()):
                self._start_opendkim(algorithm, selector, path)
            self.auth = DovecotAuth(base / "dovecot", {USER: PASSWORD})
            self._configure()
            self._run(POSTFIX, "-c", self.etc, "start")
            self.started = True
            wait_listening(self.port)
        except BaseException:
            self.stop()
            raise

    def _start_opendkim(self, algorithm, selector, path):
        """One opendkim for one key: opendkim 2.11 signs with one algorithm
        (SignatureAlgorithm), so the two signatures take two milters in a row."""
        conf = self.base / f"opendkim-{algorithm}"
        conf.mkdir()
        (conf / "keytable").write_text(f"{algorithm} {DOMAIN}:{selector}:{path}\n")
        (conf / "signingtable").write_text(f"*@{DOMAIN} {algorithm}\n")
        self.milters.append(start_opendkim(conf, SIGNING_CONF.format(
            conf=conf, algorithm=f"{algorithm}-sha256")))

    def _configure(self):
        dev.make_self_signed(self.etc / "cert.pem", self.etc / "key.pem",
                             "postfix.bench.test")
        (self.etc / "logins").write_text(f"{USER} {USER}\n")
        (self.etc / "master.cf").write_text(
            master_cf(SUBMISSIONS.format(port=self.port, socket=self.auth.socket)))
        (self.etc / "main.cf").write_text("")
        postconf(self.base, instance_settings(self.base, "postfix.bench.test") | {
            "inet_interfaces": "127.0.0.1", "mynetworks": "",
            "smtpd_tls_cert_file": self.etc / "cert.pem",
            "smtpd_tls_key_file": self.etc / "key.pem",
            "smtpd_sender_login_maps": f"texthash:{self.etc / 'logins'}",
            "smtpd_milters": ", ".join(f"unix:{sock}" for _, sock in self.milters),
            "milter_default_action": "tempfail"}, Unavailable)

    def _run(self, *argv):
        command(self.base, *argv, error=Unavailable)

    def log(self):
        path = self.base / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.started:
            self.started = False
            subprocess.run([POSTFIX, "-c", os.fspath(self.etc), "stop"],
                           capture_output=True, timeout=60)
        for proc, _ in self.milters:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        if self.auth is not None:
            self.auth.stop()


# Implicit TLS, logins through Dovecot, a sender the login owns, and every
# message held (HOLD lets the restrictions go on).
SUBMISSIONS = """\
127.0.0.1:{port} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path={socket}
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_recipient_restrictions=check_recipient_access,static:HOLD,permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""


def start_opendkim(conf, settings):
    """opendkim in the foreground in folder `conf`, configured by `settings`
    (opendkim.conf lines) and a milter socket of its own; (process, socket)
    once the socket accepts. A unix socket, as Debian's opendkim has: over
    loopback TCP, the milter's small writes meet Nagle's algorithm and delayed
    ACKs (some 130 ms a message measured here)."""
    sock = conf / "milter.sock"
    (conf / "opendkim.conf").write_text(settings + MILTER_CONF.format(
        conf=conf, socket=sock))
    proc = subprocess.Popen([OPENDKIM, "-f", "-x", os.fspath(conf / "opendkim.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _accepts(sock), "opendkim", proc)
    except BaseException:
        proc.terminate()
        proc.wait(timeout=20)
        raise
    return proc, sock


def _accepts(path):
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(os.fspath(path))
        return True
    except OSError:
        return False


# Every opendkim: the milter's socket open to Postfix's smtpd (running as
# postfix), no syslog.
MILTER_CONF = """\
Socket local:{socket}
Syslog no
PidFile {conf}/opendkim.pid
UMask 000
"""

# Signing only, with one key, relaxed canonicalization as ours; the keys are
# the bench's own (root's, 0600).
SIGNING_CONF = """\
Mode s
KeyTable file:{conf}/keytable
SigningTable refile:{conf}/signingtable
Canonicalization relaxed/relaxed
RequireSafeKeys no
SignatureAlgorithm {algorithm}
"""
