"""A validating resolver for the DANE tests: Debian's unbound on a loopback
port, sending every query for the test zones to Knot (stub zones), and
trusting the keys of the zones Knot signs (tests/outbound_peers.py). Answers
from a signed zone come with the AD bit; the others are insecure (no trust
anchor above them), as unsigned zones are in the world.

    with Unbound(base, knot, zones) as resolver:   # resolver.nameserver
        ...
"""

import os
import socket
import subprocess
from pathlib import Path

import dns.flags

from outbound_peers import Peer, Unavailable, ask, free_port, wait_until

UNBOUND = "/usr/sbin/unbound"


class Unbound(Peer):
    LOG = "unbound.log"

    def __init__(self, base, knot, zones):
        self.base = Path(base)
        self.knot, self.zones = knot, zones
        self.port = free_port(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        self.proc = None

    @property
    def nameserver(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        anchors = [self.knot.trust_anchor(zone) for zone in sorted(self.knot.signed)]
        conf = self.base / "unbound.conf"
        conf.write_text(UNBOUND_CONF.format(
            base=self.base, port=self.port,
            anchors="".join(f'  trust-anchor: "{a}"\n' for a in anchors),
            stubs="".join(STUB.format(zone=zone, port=self.knot.port)
                          for zone in self.zones)))
        log = open(self.base / self.LOG, "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", os.fspath(conf)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        first = sorted(self.knot.signed)[0]
        try:
            wait_until(lambda: self.validated(first), "unbound", self.proc)
        except Unavailable as exc:
            self.stop()
            raise Unavailable(f"{exc}: {self.log()[-500:]}") from None

    def validated(self, name, rdtype="SOA"):
        """Whether unbound answers `name` with the AD bit."""
        reply = ask(self.port, name, rdtype)
        return reply is not None and bool(reply.flags & dns.flags.AD)


# "test." is one of unbound's default local zones (RFC 6761): nodefault lets
# the stub zones answer. No root trust anchor: what is not signed by Knot
# under a trust anchor is insecure.
UNBOUND_CONF = """\
server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{base}"
  pidfile: "{base}/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 1
  do-not-query-localhost: no
  do-ip6: no
  local-zone: "test." nodefault
  qname-minimisation: no
  module-config: "validator iterator"
{anchors}remote-control:
  control-enable: no
{stubs}"""

STUB = """\
stub-zone:
  name: "{zone}"
  stub-addr: 127.0.0.1@{port}
"""
