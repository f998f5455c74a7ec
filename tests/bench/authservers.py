"""The Postfix that the sender-checks bench (authbench.py) measures beside
smtpd: the bench's private Postfix (servers.Postfix: its own folders, a free
loopback port, delivery to a Maildir as nobody) whose smtpd asks
postfix-policyd-spf-python for SPF at RCPT (check_policy_service; `policyd-spf`
started by Postfix's spawn service, as Debian's README has it) and passes each
message through opendkim verifying its DKIM signatures (a milter, Mode v).
DMARC is not checked: opendkim 2.11 has no DMARC evaluation of its own (that
is opendmarc's, another program). It takes one session at a time: see
ONE_SESSION.

    PostfixChecks(base, dns_port)       raises Unavailable(why) if it cannot run
    missing_checks(message) -> None or what the delivered message lacks

Both ask the bench's Knot, which must then answer on 127.0.0.1:53: pyspf asks
the system resolver, and /etc/resolv.conf names no port. Every Postfix command
of the instance runs in a private mount namespace (unshare -m) where
/etc/resolv.conf is bind-mounted to name 127.0.0.1 alone; `postfix start`
leaves its master there, so every daemon and policy server it spawns asks Knot
while the host's resolver is untouched. opendkim (libunbound) is told by its
ResolverConfiguration, a libunbound configuration file. stop() ends every
process the instance started.
"""

import email.parser
import os

from postfixconf import loopback_smtpd, master_cf
from servers import POSTCONF, Postfix, Unavailable
from submitservers import OPENDKIM, start_opendkim

POLICYD_SPF = "/usr/bin/policyd-spf"
UNSHARE = "/usr/bin/unshare"
AUTHSERV_ID = "postfix.bench.test"      # Postfix's myhostname, opendkim's AuthservID


ONE_SESSION = (
    "Debian's opendkim 2.11 parses its ResolverConfiguration again for every "
    "message (at end of headers, for VBR) with libunbound's parser, which is "
    "not reentrant: two messages at once make it exit (trusteddomainproject/"
    "OpenDKIM#14), and Knot on loopback and the .test zones need that file")


class PostfixChecks(Postfix):
    name = "postfix"
    max_sessions = 1        # ONE_SESSION says why

    def __init__(self, base, dns_port):
        if os.geteuid() != 0:
            raise Unavailable("a private Postfix instance needs root")
        for tool in (POLICYD_SPF, OPENDKIM, UNSHARE):
            if not os.access(tool, os.X_OK):
                raise Unavailable(f"{tool} missing (make deps --bench installs it)")
        blocked = [p for p in base.parents if p.exists() and not p.stat().st_mode & 0o001]
        if blocked:
            raise Unavailable(f"{blocked[0]} is closed to others: Postfix's "
                              "delivery and policy server run as nobody")
        if dns_port != 53:
            raise Unavailable("127.0.0.1:53 is not free for Knot, and policyd-spf "
                              "asks the system resolver, which has no port")
        self.milter = None
        self.checks = base / "checks"
        self.checks.mkdir(parents=True)
        (self.checks / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        try:
            super().__init__(base)
        except BaseException:
            self.stop()
            raise

    def _configure(self):
        super()._configure()
        conf = self.checks
        (conf / "policyd-spf.conf").write_text(POLICYD_SPF_CONF)
        (conf / "unbound.conf").write_text(UNBOUND_CONF)
        self.milter = start_opendkim(conf, VERIFYING_CONF.format(
            id=AUTHSERV_ID, unbound=conf / "unbound.conf"))
        (self.etc / "master.cf").write_text(master_cf(
            loopback_smtpd(self.port) + SPAWN_SPF.format(
                policyd=POLICYD_SPF, conf=conf / "policyd-spf.conf")))
        # A milter that fails tempfails the message rather than letting it
        # through unchecked.
        self._run(POSTCONF, "-c", self.etc, "-e", *(
            f"{key}={value}" for key, value in {
                "smtpd_recipient_restrictions": "reject_unauth_destination, "
                "check_policy_service unix:private/policyd-spf",
                "policyd-spf_time_limit": "3600",
                "smtpd_milters": f"unix:{self.milter[1]}",
                "milter_default_action": "tempfail"}.items()))

    def _run(self, *argv):
        super()._run(UNSHARE, "--mount", "--propagation", "private", "/bin/sh", "-c",
                     'mount --bind "$0" /etc/resolv.conf && exec "$@"',
                     self.checks / "resolv.conf", *argv)

    def cpu_seconds(self):
        """None: the work is spread over processes that come and go."""
        return None

    def stop(self):
        # opendkim takes seconds to end: it does so while Postfix stops.
        milter = self.milter[0] if self.milter is not None else None
        if milter is not None and milter.poll() is None:
            milter.terminate()
        super().stop()
        if milter is not None:
            milter.wait(timeout=20)


def missing_checks(message):
    """None if the delivered `message` (bytes) carries policyd-spf's
    Received-SPF: Pass and opendkim's dkim=pass for both signatures, else what
    is missing: a bench where the checks did not run would measure less work."""
    head = email.parser.BytesHeaderParser().parsebytes(message)
    spf = [str(h) for h in head.get_all("Received-SPF", [])]
    results = " ".join(" ".join(str(h).split())
                       for h in head.get_all("Authentication-Results", [])
                       if str(h).strip().startswith(AUTHSERV_ID + ";"))
    if not any(h.strip().startswith("Pass") for h in spf):
        return f"no Received-SPF: Pass from policyd-spf (found {spf!r})"
    for algorithm in ("rsa-sha256", "ed25519-sha256"):
        if not any(part.startswith("pass") and f"header.a={algorithm}" in part
                   for part in results.split("dkim=")[1:]):
            return f"no dkim=pass for {algorithm} from opendkim (found {results!r})"
    return None


# Received-SPF headers; HELO and MAIL FROM failures rejected as in Debian's
# file; 127.0.0.0/8, which Debian's file skips, checked: the bench's client
# is 127.0.0.1, which pass.test's SPF record names.
POLICYD_SPF_CONF = """\
debugLevel = 0
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.0/24
Header_Type = SPF
"""

# As Debian's postfix-policyd-spf-python README sets it up.
SPAWN_SPF = """\
policyd-spf unix - n n - 0 spawn
  user=nobody argv={policyd} {conf}
"""

# Verifying only, every client counted external (opendkim signs, rather than
# verifies, mail from its InternalHosts, 127.0.0.1 by default); its keys
# looked up at Knot through libunbound's configuration file.
VERIFYING_CONF = """\
Mode v
AuthservID {id}
InternalHosts 192.0.2.1
ResolverConfiguration {unbound}
"""

# Every query forwarded to Knot, which unbound by default neither asks (it is
# on loopback) nor is asked about test domains: .test is a special-use name
# (RFC 6761 6.2) that unbound answers itself with NXDOMAIN.
UNBOUND_CONF = """\
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@53
"""
