"""The world outbound delivery talks to, on loopback: an authoritative DNS server
(Knot DNS) serving the test zones, here, and a private Postfix as the remote MX
(tests/outbound_mx.py).

    with Knot(base) as dns:            # dns.nameserver: "127.0.0.1:<port>"
        ...

Every MX host of the zones listens on the same port (MX records carry no port):
deliverd is pointed at it with `[outbound] smtp_port`, at the DNS server with
`[outbound] nameservers`. The servers keep their state in a temporary folder of
their own and are stopped and removed afterwards; none touches the system's.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype


KNOTD = "/usr/sbin/knotd"
MX_ADDRESS = "127.0.0.2"       # the Postfix MX
RELAY_ADDRESS = "127.0.0.5"    # the same Postfix as a relay host: AUTH required
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
    # The only MX is down.
    "dead.test": f"""
@ MX 10 mx
mx A {DEAD_ADDRESS}
""",
    # No MX: the domain's address record is the host (RFC 5321 5.1).
    "a-only.test": f"""
@ A {MX_ADDRESS}
""",
    # A null MX: the domain accepts no mail (RFC 7505).
    "nullmx.test": """
@ MX 0 .
""",
    # Its MX is the test instance itself (mail.example.test): mail for it would
    # come back (a forwarding alias's target here must not loop).
    "loop.test": """
@ MX 10 mail.example.test.
""",
    # Neither MX nor address records.
    "nohost.test": """
@ TXT "no mail here"
""",
}
MX_DOMAINS = ("remote.test", "second.test", "a-only.test", "routed.test")


class Unavailable(Exception):
    """A peer cannot run here; the message says why."""


def free_port(host="127.0.0.1", kinds=(socket.SOCK_STREAM,)):
    """A port free on `host` for every kind of socket in `kinds`."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kinds[0]) as first:
            first.bind((host, 0))
            port = first.getsockname()[1]
            try:
                for kind in kinds[1:]:
                    with socket.socket(socket.AF_INET, kind) as other:
                        other.bind((host, port))
            except OSError:
                continue
            return port
    raise Unavailable(f"no free port on {host}")


def ask(port, name, rdtype="SOA"):
    """The reply of the DNS server on 127.0.0.1:`port` to a query with the DO
    bit (over UDP), or None when it does not answer within half a second."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    try:
        return dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.Timeout):
        return None


def wait_until(predicate, what, proc=None):
    deadline = time.monotonic() + START_TIME
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Unavailable(f"{what}: exited {proc.returncode}")
        if predicate():
            return
        time.sleep(0.05)
    raise Unavailable(f"{what}: not ready within {START_TIME} s")


class Peer:
    """A peer program run for the tests in its folder `base`, one process
    (`proc`), its output in `base/LOG`: stopped at the end of a with block."""

    LOG = "peer.log"
    base = None
    proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        path = self.base / self.LOG
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Knot(Peer):
    """knotd serving ZONES on 127.0.0.1:<port> (UDP and TCP); the zones named in
    `signed` are signed by Knot itself (automatic DNSSEC signing, one
    ECDSA P-256 key per zone), whose key `trust_anchor(zone)` gives. `port`
    is a free one unless given (53 for a program that only knows the system
    resolver's way)."""

    LOG = "knotd.log"

    def __init__(self, base, zones=ZONES, signed=(), port=None):
        self.base = Path(base)
        self.zones = zones
        self.signed = set(signed)
        self.port = port or free_port(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        self.proc = None

    @property
    def nameserver(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        zones = self.base / "zones"
        zones.mkdir(parents=True)
        (self.base / "db").mkdir()          # the signing keys live there
        for name, records in self.zones.items():
            (zones / f"{name}.zone").write_text(_zone_file(name, records))
        conf = self.base / "knot.conf"
        conf.write_text(KNOT_CONF.format(base=self.base, port=self.port,
                                         zones="".join(self._zone_conf(name)
                                                       for name in self.zones)))
        log = open(self.base / self.LOG, "wb")
        self.proc = subprocess.Popen([KNOTD, "-c", os.fspath(conf)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        first = next(iter(self.zones))
        try:
            wait_until(lambda: self._answers(first), "knotd", self.proc)
            for name in self.signed:
                wait_until(lambda: self.trust_anchor(name), f"knotd signing {name}")
        except Unavailable as exc:
            self.stop()
            raise Unavailable(f"{exc}: {self.log()[-500:]}") from None

    def _zone_conf(self, name):
        if name in self.signed:
            return f"  - domain: {name}\n    dnssec-signing: on\n" \
                   "    dnssec-policy: test\n"
        return f"  - domain: {name}\n"

    def _answers(self, name, rdtype="SOA"):
        reply = ask(self.port, name, rdtype)
        return reply.answer if reply is not None else None

    def trust_anchor(self, zone):
        """The zone's key-signing key as a DNSKEY record in zone-file form
        ("zone. DNSKEY 257 3 13 ..."), or None while it is not signed yet."""
        for rrset in self._answers(zone, "DNSKEY") or []:
            for key in rrset if rrset.rdtype == dns.rdatatype.DNSKEY else ():
                if key.flags & 1:           # RFC 4034 2.1.1: the SEP flag
                    return f"{zone}. DNSKEY {key.to_text()}"
        return None


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
policy:
  - id: test
    algorithm: ecdsap256sha256
    single-type-signing: on
zone:
{zones}"""
