"""A private rspamd on loopback for the tests: Debian's rules and modules, its own
configuration, database and run folders, its normal worker on a free port.

    with RspamdPeer(base) as peer:       # peer.address: "127.0.0.1:<port>"
        ...

Modules that ask the internet (DNS blocklists, fuzzy hashes, phishing feeds,
ASN) or need redis are off; its DNS server is a port where nothing answers, so
every other lookup fails at once. One rule of the test's own, MAILSUITE_JUNK,
scores a Subject holding "junk me" between add_header and reject. rspamd
compiles Debian's whole rule set as it starts: tens of seconds on a busy host.
"""

import os
import subprocess
import urllib.request

from outbound_peers import Peer, Unavailable, free_port

RSPAMD = "/usr/bin/rspamd"
START_TIME = 300        # seconds: loading the rules is slow on a loaded machine
OFF = ("rbl", "fuzzy_check", "phishing", "asn", "emails", "hfilter", "url_redirector",
       "maps_stats")

CONF = """\
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}}
logging {{
    type = "console";
    level = "error";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{port}";
    count = 1;
    .include "$CONFDIR/worker-normal.inc"
}}
"""
OPTIONS = """\
dns {{
    nameserver = ["127.0.0.1:{dead_port}"];
    timeout = 0.2s;
    retransmits = 1;
}}
disable_hyperscan = true;
"""
ACTIONS = "reject = 15;\nadd_header = 6;\ngreylist = null;\n"
JUNK_RULE = """\
rspamd_config.MAILSUITE_JUNK = {
  callback = function(task)
    local subject = task:get_subject()
    return subject ~= nil and subject:find('junk me', 1, true) ~= nil
  end,
  score = 9.0,
  description = 'the mailsuite test asks for the junk folder',
}
"""


class RspamdPeer(Peer):
    LOG = "rspamd.log"

    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        local = self.base / "local"
        for sub in ("local.d", "override.d", "db", "run"):
            (local / sub).mkdir(parents=True, exist_ok=True)
        for module in OFF:
            (local / "local.d" / f"{module}.conf").write_text("enabled = false;\n")
        (local / "override.d" / "options.inc").write_text(
            OPTIONS.format(dead_port=free_port()))
        (local / "override.d" / "actions.conf").write_text(ACTIONS)
        (local / "rspamd.local.lua").write_text(JUNK_RULE)
        conf = self.base / "rspamd.conf"
        conf.write_text(CONF.format(port=self.port))
        log = open(self.base / self.LOG, "wb")
        self.proc = subprocess.Popen(
            [RSPAMD, "-f", "-i", "-c", os.fspath(conf), "--var=CONFDIR=/etc/rspamd",
             f"--var=LOCAL_CONFDIR={local}", f"--var=DBDIR={local / 'db'}",
             f"--var=RUNDIR={local / 'run'}", f"--var=LOGDIR={self.base}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_until_serving()

    def _wait_until_serving(self):
        """Until GET /ping answers "pong" (the worker serves); between two tries,
        wait for rspamd's exit, which ends the wait at once if it fails."""
        for _ in range(START_TIME * 2):
            try:
                with urllib.request.urlopen(f"http://{self.address}/ping",
                                            timeout=0.5) as reply:
                    if reply.read().strip() == b"pong":
                        return
            except OSError:
                pass
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
            raise Unavailable(f"rspamd exited {self.proc.returncode}: "
                              f"{self.log()[-500:]}")
        raise Unavailable(f"rspamd: not serving within {START_TIME} s")
