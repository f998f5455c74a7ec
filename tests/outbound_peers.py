"""The world outbound delivery talks to, on loopback: an authoritative DNS server
(Knot DNS) serving the test zones, and a private Postfix as the remote MX.

    with Knot(base) as dns:            # dns.port: 127.0.0.1:<port>, zones below
        ...
    with RemoteMX(base) as mx:         # Postfix on 127.0.0.2:<mx.port>
        mx.defer("later@remote.test")  # 450 for that recipient, until mx.accept()
        mx.messages("rcpt@remote.test") -> [bytes]   # what it delivered

Every MX host of the zones listens on the same port (MX records carry no port):
deliverd is pointed at it with `[outbound] smtp_port`, at the DNS server with
`[outbound] nameservers`. Both servers keep their state in a temporary folder of
their own and are stopped and removed afterwards; neither touches the system's.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query

from mailsuite import dev

KNOTD = "/usr/sbin/knotd"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
MX_ADDRESS = "127.0.0.2"       # the Postfix MX
DEAD_ADDRESS = "127.0.0.3"     # an MX host where nothing listens
START_TIME = 20                # seconds a server may take to start

# Every test domain, and the records of each. mx.remote.test also has an AAAA
# record (::1, where nothing listens on the port), so that both families are tried.
ZONES = {
    "remote.test": f"""
@ MX 10 mx
@ MX 20 backup
mx A {MX_ADDRESS}
mx AAAA ::1
backup A {DEAD_ADDRESS}
@ TXT "v=spf1 mx -all"
_mta-sts TXT "v=STSv1; id=20240101"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@remote.test"
_25._tcp.mx TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000
""",
    # The preferred MX is down: the next one takes the mail (RFC 5321 5.1).
    "second.test": f"""
@ MX 5 dead
@ MX 50 mx.remote.test.
dead A {DEAD_ADDRESS}
""",
    # No MX: the domain's address record is the host (RFC 5321 5.1).
    "a-only.test": f"""
@ A {MX_ADDRESS}
""",
    # A null MX: the domain accepts no mail (RFC 7505).
    "nullmx.test": """
@ MX 0 .
""",
    # Neither MX nor address records.
    "nohost.test": """
@ TXT "no mail here"
""",
}
MX_DOMAINS = ("remote.test", "second.test", "a-only.test")


class Unavailable(Exception):
    """A peer cannot run here; the message says why."""


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait(predicate, what, proc=None):
    deadline = time.monotonic() + START_TIME
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Unavailable(f"{what}: exited {proc.returncode}")
        if predicate():
            return
        time.sleep(0.05)
    raise Unavailable(f"{what}: not ready within {START_TIME} s")


class Knot:
    """knotd serving ZONES on 127.0.0.1:<port> (UDP and TCP)."""

    def __init__(self, base, zones=ZONES):
        self.base = Path(base)
        self.zones = zones
        self.port = free_port(kind=socket.SOCK_DGRAM)
        self.proc = None

    @property
    def nameserver(self):
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        zones = self.base / "zones"
        zones.mkdir(parents=True)
        for name, records in self.zones.items():
            (zones / f"{name}.zone").write_text(_zone_file(name, records))
        conf = self.base / "knot.conf"
        conf.write_text(KNOT_CONF.format(base=self.base, port=self.port,
                                         zones="".join(f"  - domain: {name}\n"
                                                       for name in self.zones)))
        log = open(self.base / "knotd.log", "wb")
        self.proc = subprocess.Popen([KNOTD, "-c", os.fspath(conf)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        first = next(iter(self.zones))
        _wait(lambda: self._answers(first), f"knotd ({self.log()[-500:]})", self.proc)

    def _answers(self, name):
        query = dns.message.make_query(name, "SOA")
        try:
            reply = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.5)
        except (OSError, dns.exception.Timeout):
            return False
        return bool(reply.answer)

    def log(self):
        path = self.base / "knotd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _zone_file(name, records):
    return (f"$ORIGIN {name}.\n$TTL 60\n"
            f"@ SOA ns.{name}. hostmaster.{name}. 1 60 60 600 60\n"
            f"@ NS ns.{name}.\nns A 127.0.0.1\n{records}")


KNOT_CONF = """\
server:
    listen: 127.0.0.1@{port}
    rundir: {base}
database:
    storage: {base}/db
template:
  - id: default
    storage: {base}/zones
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
log:
  - target: stderr
    any: warning
zone:
{zones}"""


class RemoteMX:
    """A private Postfix on MX_ADDRESS:<port>, receiving for MX_DOMAINS into
    Maildirs under its folder, with opportunistic STARTTLS (a self-signed
    certificate). Needs root (Postfix's master); the folder is outside the test's
    tmp_path because Postfix's delivery agent (as nobody) must reach it."""

    def __init__(self, domains=MX_DOMAINS):
        if os.geteuid() != 0:
            raise Unavailable("a private Postfix instance needs root")
        self.domains = domains
        self.base = Path(tempfile.mkdtemp(prefix="mailsuite-mx-"))
        self.base.chmod(0o755)
        self.etc = self.base / "etc"
        self.port = free_port(MX_ADDRESS)
        self.started = False

    def __enter__(self):
        try:
            self._configure()
            self._run(POSTFIX, "-c", self.etc, "start")
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.started = True
        _wait(self._listening, f"postfix ({self.log()[-500:]})")
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
        for sub in ("etc", "queue", "data", "mail"):
            (self.base / sub).mkdir()
        shutil.chown(self.base / "data", "postfix")
        os.chown(self.base / "mail", 65534, 65534)       # nobody:nogroup
        dev.make_self_signed(self.etc / "cert.pem", self.etc / "key.pem",
                             "mx.remote.test")
        (self.etc / "master.cf").write_text(MASTER_CF.format(address=MX_ADDRESS,
                                                             port=self.port))
        (self.etc / "main.cf").write_text("")
        self._write_access({})
        self._run(POSTCONF, "-c", self.etc, "-e",
                  *(f"{key}={value}" for key, value in self._settings().items()))

    def _settings(self):
        return {
            "compatibility_level": "3.6",
            "queue_directory": self.base / "queue",
            "data_directory": self.base / "data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "mx.remote.test",
            "mydestination": "",
            "mynetworks": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
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
            "maillog_file": self.base / "postfix.log",
            "maillog_file_prefixes": self.base,
        }

    def _write_access(self, replies):
        """The recipient access table: address -> an SMTP reply (texthash:
        read when an smtpd process starts; see reload())."""
        path = self.etc / "access"
        path.write_text("".join(f"{addr} {reply}\n" for addr, reply in replies.items()))
        self.replies = dict(replies)

    def answer(self, replies):
        """From now on, answer RCPT TO for these addresses with these replies
        ("450 4.2.0 come back later", "550 5.1.1 no such user"); {} accepts all."""
        self._write_access(replies)
        if self.started:
            self._run(POSTFIX, "-c", self.etc, "reload")

    def _run(self, *argv):
        proc = subprocess.run([os.fspath(a) for a in argv], capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise Unavailable(f"{Path(argv[0]).name} failed: "
                              f"{proc.stderr.strip() or self.log()[-500:]}")

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


# Receiving and local (virtual) delivery, with TLS; no chroot.
MASTER_CF = """\
{address}:{port} inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""
