#!/usr/bin/python3
"""make bench, sender checks: smtpd's accepted messages/second with SPF, DKIM,
ARC and DMARC on, next to the same smtpd with `[mailauth] checks = false` and
next to Postfix checking SPF (postfix-policyd-spf-python) and DKIM (opendkim
as a milter), as authservers.py sets it up; opendkim has no DMARC.

Knot on loopback serves the zones of tests/mailauth/zones.py; every message is
a 2 KiB message from someone@pass.test signed by dkimpy with RSA and Ed25519
(d=pass.test), so each one costs an SPF evaluation, two key lookups and two
verifications, an ARC look and a DMARC policy lookup (the resolver keeps the
answers for their TTL, as it would for a busy sender). smtp-source (Debian's
postfix package) sends the file, one connection per message, at 1, 10 and 50
parallel sessions; the three instances take turns run by run. Target: checks
on keep more than half of the checks-off throughput. smtpd's CPU time per
message is printed too: on a machine busy with other work it is the steadier
figure (1/cpu: the throughput ratio CPU alone would allow); Postfix's work is
spread over processes that come and go, so it has no such figure. Knot answers
on 127.0.0.1:53 when that port is free, as Postfix's policy server needs; else
the Postfix column is "-" with the reason, as it is when a package is missing.
Postfix is measured only after a few messages show that it ran its checks,
and at one session only (authservers.ONE_SESSION says why).
Timings are printed, never asserted.
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "mailauth")]

from authservers import ONE_SESSION, PostfixChecks, missing_checks  # noqa: E402
from harness import Instance  # noqa: E402
from keys import ed25519_key, rsa_key  # noqa: E402
from outbound_peers import Knot  # noqa: E402
from servers import SMTP_SOURCE, Unavailable, maildir_count, smtp_source  # noqa: E402
from zones import zones  # noqa: E402

SENDER = "someone@pass.test"
RCPT = "demo@example.test"
SESSIONS = (1, 10, 50)
DELIVERY_TIMEOUT = 300
PROBE_MESSAGES = 3      # sent to Postfix to see its checks run, before measuring


def signed_message(size=2048):
    body = b"".join(b"line %d of the bench message, signed twice\r\n" % n
                    for n in range(size // 44))
    message = (f"From: Someone <{SENDER}>\r\nTo: {RCPT}\r\nSubject: bench\r\n"
               "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
               "Message-ID: <bench@pass.test>\r\n\r\n").encode() + body
    signed = rsa_key().sign(message, "pass.test", "perl")
    return ed25519_key().sign(signed, "pass.test", "ed")


class Server:
    max_sessions = None

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

    def cpu_seconds(self):
        """The CPU time smtpd has used (user + system), from /proc."""
        pid = self.inst.pids["smtpd"]
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.inst.close()


def run_point(server, message_file, sessions, count):
    """(accepted messages/s, smtpd's CPU ms per message or None), or an error
    string; waits until all are delivered so that a run's deliveries do not
    fall on the next one."""
    before = maildir_count(server.maildir())
    cpu = server.cpu_seconds()
    accepted = smtp_source(["-s", str(sessions), "-m", str(count), "-F",
                            str(message_file), "-f", SENDER, "-t", RCPT, "-M",
                            "mx.pass.test", f"127.0.0.1:{server.port}"])
    if isinstance(accepted, str):
        return accepted
    cpu = None if cpu is None else server.cpu_seconds() - cpu
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while maildir_count(server.maildir()) < before + count:
        if time.monotonic() > deadline:
            return f"not all delivered after {DELIVERY_TIMEOUT} s"
        time.sleep(0.01)
    return count / accepted, None if cpu is None else cpu * 1000 / count


def measure(servers, message_file, sessions, count, repeat):
    """{name: (median accepted/s, median CPU ms/message or None) or an error
    string} for one point, of the servers that take that many sessions."""
    servers = [server for server in servers
               if server.max_sessions is None or sessions <= server.max_sessions]
    runs = {server.name: [] for server in servers}
    for _ in range(repeat):
        for server in servers:
            runs[server.name].append(run_point(server, message_file, sessions, count))
    results = {}
    for name, found in runs.items():
        errors = [r for r in found if isinstance(r, str)]
        results[name] = errors[0] if errors else (
            statistics.median(r[0] for r in found),
            None if found[0][1] is None else statistics.median(r[1] for r in found))
    return results


class ChecksNotRun(Exception):
    """Postfix delivered the probe messages without the results of its checks."""


def port_free(port):
    """Whether 127.0.0.1:`port` can be bound for UDP and TCP, as Knot will."""
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def checked_postfix(base, dns_port, message_file):
    """The Postfix with its checks, once PROBE_MESSAGES delivered show them
    run; raises Unavailable when it cannot run here, ChecksNotRun when it ran
    without them."""
    server = PostfixChecks(base / "postfix", dns_port)
    try:
        result = run_point(server, message_file, 1, PROBE_MESSAGES)
        if isinstance(result, str):
            raise ChecksNotRun(f"the probe messages: {result}")
        for path in server.maildir().glob("new/*"):
            missing = missing_checks(path.read_bytes())
            if missing:
                raise ChecksNotRun(f"{missing}; see {server.base / 'postfix.log'}")
    except BaseException:
        server.stop()
        raise
    return server


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
    off, on = results["checks off"], results["checks on"]
    postfix = results.get("postfix")

    def measured(*results):
        return all(isinstance(result, tuple) for result in results)

    cells = [f"{v[0]:10.1f} {v[1]:7.2f}" if measured(v) else f"{'-':>18}"
             for v in (off, on)]
    reference = f"{postfix[0]:10.1f}" if measured(postfix) else f"{'-':>10}"
    share = f"{on[0] / off[0]:8.2f} {off[1] / on[1]:8.2f}" if measured(on, off) \
        else f"{'-':>17}"
    versus = f"{on[0] / postfix[0]:10.2f}" if measured(on, postfix) else f"{'-':>10}"
    print(f"{sessions:>4} {count:>6} | {cells[0]} | {cells[1]} | {reference} | "
          f"{share} | {versus}", flush=True)
    return [f"{name}, {sessions} sessions: {r}" for name, r in results.items()
            if isinstance(r, str)]


def print_header(repeat):
    print("accepted messages/s and smtpd's CPU ms per message, 2 KiB signed "
          "messages (RSA + Ed25519), one connection per message; "
          f"{repeat} run(s) per point, medians; postfix: SPF by policyd-spf, "
          "DKIM by opendkim, no DMARC")
    print(f"{'':>11} | {'checks off':^18} | {'checks on':^18} | {'postfix':^10} | "
          f"{'on/off':^17} | on/postfix")
    print(f"{'sess':>4} {'msgs':>6} | {'acc/s':>10} {'cpu ms':>7} | "
          f"{'acc/s':>10} {'cpu ms':>7} | {'acc/s':>10} | {'acc/s':>8} {'1/cpu':>8} | "
          f"{'acc/s':>10}")


def run(base, args):
    message_file = base / "message.eml"
    # smtp-source ends each line of the file with CRLF itself.
    message_file.write_bytes(signed_message().replace(b"\r\n", b"\n"))
    dns_port = 53 if port_free(53) else None
    with Knot(base / "knot", zones(rsa_key().record, ed25519_key().record),
              port=dns_port) as knot:
        servers, notes, problems = [], [], []
        try:
            servers.append(Server(base, "checks off", "[mailauth]\nchecks = false\n"))
            servers.append(Server(base, "checks on", f'[outbound]\nnameservers = '
                                  f'["{knot.nameserver}"]\n'))
            try:
                servers.append(checked_postfix(base, knot.port, message_file))
                if max(args.sessions) > servers[-1].max_sessions:
                    notes.append(f"postfix: measured at {servers[-1].max_sessions} "
                                 f"session only: {ONE_SESSION}")
            except Unavailable as exc:
                notes.append(f"postfix: not measured: {exc}")
            except ChecksNotRun as exc:
                problems.append(f"postfix: not measured, its checks did not run: {exc}")
            print_header(args.repeat)
            for sessions in args.sessions:
                results = measure(servers, message_file, sessions, args.messages,
                                  args.repeat)
                problems += report(results, sessions, args.messages)
            verdict = check_verdict(servers[1])
            problems += [verdict] if verdict else []
            for line in [f"  - {note}" for note in notes] + [f"  ! {p}" for p in problems]:
                print(line)
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
        os.chmod(tmp, 0o755)        # Postfix's daemons run as postfix and nobody
        return 1 if run(Path(tmp), args) else 0


if __name__ == "__main__":
    sys.exit(main())
