#!/usr/bin/python3
"""make bench, sender checks: smtpd's accepted messages/second with SPF, DKIM,
ARC and DMARC on, next to the same smtpd with `[mailauth] checks = false`.

Knot on loopback serves the zones of tests/mailauth/zones.py; every message is
a 2 KiB message from someone@pass.test signed by dkimpy with RSA and Ed25519
(d=pass.test), so each one costs an SPF evaluation, two key lookups and two
verifications, an ARC look and a DMARC policy lookup (the resolver keeps the
answers for their TTL, as it would for a busy sender). smtp-source (Debian's
postfix package) sends the file, one connection per message, at 1, 10 and 50
parallel sessions; the two instances take turns run by run. Target: checks on
keep more than half of the checks-off throughput. smtpd's CPU time per message
is printed too: on a machine busy with other work it is the steadier figure
(1/cpu: the throughput ratio CPU alone would allow). Timings are printed, never
asserted.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "mailauth")]

from harness import Instance  # noqa: E402
from keys import ed25519_key, rsa_key  # noqa: E402
from outbound_peers import Knot  # noqa: E402
from servers import maildir_count  # noqa: E402
from zones import zones  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
SENDER = "someone@pass.test"
RCPT = "demo@example.test"
SESSIONS = (1, 10, 50)
SOURCE_TIMEOUT = 600
DELIVERY_TIMEOUT = 300


def signed_message(size=2048):
    body = b"".join(b"line %d of the bench message, signed twice\r\n" % n
                    for n in range(size // 44))
    message = (f"From: Someone <{SENDER}>\r\nTo: {RCPT}\r\nSubject: bench\r\n"
               "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
               "Message-ID: <bench@pass.test>\r\n\r\n").encode() + body
    signed = rsa_key().sign(message, "pass.test", "perl")
    return ed25519_key().sign(signed, "pass.test", "ed")


class Server:
    def __init__(self, base, name, config):
        self.name = name
        self.inst = Instance(base / name)
        try:
            self.inst.add_config(config)
            self.inst.add_user(RCPT)
            self.inst.start("smtpd", "deliverd")
        except BaseException:
            self.inst.close()
            raise
        self.port = self.inst.port("smtp")

    def maildir(self):
        return self.inst.maildir(RCPT)

    def stop(self):
        self.inst.close()


def cpu_seconds(pid):
    """The CPU time a process has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_point(server, message_file, sessions, count):
    """(accepted messages/s, smtpd's CPU ms per message), or an error string;
    waits until all are delivered so that a run's deliveries do not fall on the
    next one."""
    before = maildir_count(server.maildir())
    cpu = cpu_seconds(server.inst.pids["smtpd"])
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count), "-F",
            str(message_file), "-f", SENDER, "-t", RCPT, "-M", "mx.pass.test",
            f"127.0.0.1:{server.port}"]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=SOURCE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"smtp-source took over {SOURCE_TIMEOUT} s"
    accepted = time.monotonic() - start
    cpu = cpu_seconds(server.inst.pids["smtpd"]) - cpu
    if proc.returncode != 0:
        return "smtp-source: " + (proc.stderr.strip().splitlines() or ["failed"])[-1]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while maildir_count(server.maildir()) < before + count:
        if time.monotonic() > deadline:
            return f"not all delivered after {DELIVERY_TIMEOUT} s"
        time.sleep(0.01)
    return count / accepted, cpu * 1000 / count


def measure(servers, message_file, sessions, count, repeat):
    """{name: (median accepted/s, median CPU ms/message) or an error string}
    for one point."""
    runs = {server.name: [] for server in servers}
    for _ in range(repeat):
        for server in servers:
            runs[server.name].append(run_point(server, message_file, sessions, count))
    results = {}
    for name, found in runs.items():
        errors = [r for r in found if isinstance(r, str)]
        results[name] = errors[0] if errors else (
            statistics.median(r[0] for r in found), statistics.median(r[1] for r in found))
    return results


def check_verdict(server):
    """The Authentication-Results of a delivered bench message, which must say
    every check passed: a bench of failing checks would measure something else."""
    for path in server.maildir().glob("new/*"):
        head = path.read_bytes().partition(b"\r\n\r\n")[0]
        for word in (b"spf=pass", b"dkim=pass", b"dmarc=pass"):
            if word not in head:
                return f"a bench message lacks {word.decode()}: {head[:600]!r}"
        return None
    return "no bench message delivered"


def report(results, sessions, count):
    on, off = results["checks on"], results["checks off"]
    both = isinstance(on, tuple) and isinstance(off, tuple)
    cells = [f"{v[0]:10.1f} {v[1]:7.2f}" if isinstance(v, tuple) else f"{'-':>18}"
             for v in (off, on)]
    share = f"{on[0] / off[0]:8.2f} {off[1] / on[1]:8.2f}" if both else f"{'-':>17}"
    print(f"{sessions:>4} {count:>6} | {cells[0]} | {cells[1]} | {share}", flush=True)
    return [f"{name}, {sessions} sessions: {r}" for name, r in results.items()
            if isinstance(r, str)]


def run(base, args):
    message_file = base / "message.eml"
    # smtp-source ends each line of the file with CRLF itself.
    message_file.write_bytes(signed_message().replace(b"\r\n", b"\n"))
    with Knot(base / "knot", zones(rsa_key().record, ed25519_key().record)) as knot:
        servers = [Server(base, "checks off", "[mailauth]\nchecks = false\n"),
                   Server(base, "checks on", f'[outbound]\nnameservers = '
                          f'["{knot.nameserver}"]\n')]
        try:
            print("accepted messages/s and smtpd's CPU ms per message, 2 KiB "
                  "signed messages (RSA + Ed25519), one connection per message; "
                  f"{args.repeat} run(s) per point, medians")
            print(f"{'':>11} | {'checks off':^18} | {'checks on':^18} | on/off")
            print(f"{'sess':>4} {'msgs':>6} | {'acc/s':>10} {'cpu ms':>7} | "
                  f"{'acc/s':>10} {'cpu ms':>7} | {'acc/s':>8} {'1/cpu':>8}")
            problems = []
            for sessions in args.sessions:
                results = measure(servers, message_file, sessions, args.messages,
                                  args.repeat)
                problems += report(results, sessions, args.messages)
            verdict = check_verdict(servers[1])
            problems += [verdict] if verdict else []
            for problem in problems:
                print(f"  ! {problem}")
            return problems
        finally:
            for server in servers:
                server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000,
                        help="messages per point (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point")
    parser.add_argument("--sessions", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(SESSIONS),
                        help="comma-separated session counts (default 1,10,50)")
    args = parser.parse_args(argv)
    if not os.access(SMTP_SOURCE, os.X_OK):
        print(f"authbench: {SMTP_SOURCE} missing: run `make deps`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mailsuite-authbench.") as tmp:
        return 1 if run(Path(tmp), args) else 0


if __name__ == "__main__":
    sys.exit(main())
