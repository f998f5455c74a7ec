#!/usr/bin/python3
"""make bench, outbound: how fast deliverd empties a queue of mail for another
domain, next to Postfix emptying the same queue, into the same smtp-sink.

One smtp-sink (Debian's postfix package) on a free loopback port is the remote
MX of sink.test, whose MX record Knot DNS serves. For each server, N messages
(2 KiB) to r@sink.test are queued first, held, then released:

  ours:    queued in the spool with deliverd stopped; deliverd started, timed
           from its READY=1 (sd_notify, sent before its first look at the
           queue) until the spool is empty (every message's 250 recorded)
  postfix: sent to its smtpd, where every message is put on hold; released
           with `postsuper -H ALL` and `postqueue -f`, timed until its log
           shows every message sent (Postfix asks no DNS: its relayhost
           names the sink)

Both are timed as running daemons emptying a queue, so deliverd's start-up (the
interpreter and its modules, which a socket-activated deliverd pays once for many
messages) is printed beside its rate rather than counted in it. Both use up to 20
connections to the destination (Postfix's default). Printed: each server's
median rate over --runs runs (the servers taking turns), and the median of the
paired ratios; nothing is asserted.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness import Instance  # noqa: E402
from mailsuite.core.spool import Spool, new_qid  # noqa: E402
from outbound_peers import Knot, Unavailable, free_port  # noqa: E402
from postfixconf import (POSTFIX, command, instance_settings,  # noqa: E402
                         loopback_smtpd, make_dirs, master_cf, postconf)
from servers import postfix_version, wait_listening  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
SIZE = 2048
CONNECTIONS = 20
TIMEOUT = 600               # seconds one run may take
RCPT = "r@sink.test"
ZONES = {"sink.test": "@ MX 10 mx\nmx A 127.0.0.1\n"}


def body(i):
    head = f"From: <bench@example.test>\r\nTo: <{RCPT}>\r\nSubject: {i}\r\n\r\n"
    return (head + ("x" * 76 + "\r\n") * (SIZE // 78)).encode()


def wait(predicate, what):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise Unavailable(f"{what}: not done within {TIMEOUT} s")
        time.sleep(0.01)


def run_ours(base, knot, sink_port, count):
    inst = Instance(base)
    try:
        inst.add_config(f'[outbound]\nnameservers = ["{knot.nameserver}"]\n'
                        f"smtp_port = {sink_port}\nmax_per_destination = {CONNECTIONS}\n")
        with Spool(inst.state) as spool:
            for i in range(count):
                spool.enqueue_sync(new_qid(), "bench@example.test", [RCPT], body(i))
            launched = time.monotonic()
            inst.start("deliverd")
            start = time.monotonic()
            wait(lambda: spool.count() == 0, "deliverd")
            return count / (time.monotonic() - start), start - launched
    finally:
        inst.close()


class HeldPostfix:
    """A private Postfix that holds what it receives and relays it to the sink."""

    def __init__(self, base, sink_port):
        self.base, self.etc = base, base / "etc"
        self.port = free_port()
        make_dirs(base)
        (self.etc / "master.cf").write_text(master_cf(loopback_smtpd(self.port)))
        (self.etc / "main.cf").write_text("")
        postconf(base, instance_settings(base, "postfix.bench.test") | {
            "inet_interfaces": "127.0.0.1", "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{sink_port}",
            "smtpd_recipient_restrictions":
                "check_recipient_access static:HOLD, permit_mynetworks, reject",
            "default_destination_concurrency_limit": CONNECTIONS,
            "smtp_tls_security_level": "none"}, Unavailable)
        self.run(POSTFIX, "-c", self.etc, "start")
        wait_listening(self.port)

    def run(self, *argv):
        command(self.base, *argv, error=Unavailable)

    def sent(self):
        path = self.base / "postfix.log"
        return path.read_text(errors="replace").count("status=sent") \
            if path.exists() else 0

    def held(self):
        return sum(len(files) for _, _, files in os.walk(self.base / "queue/hold"))

    def stop(self):
        subprocess.run([POSTFIX, "-c", os.fspath(self.etc), "stop"],
                       capture_output=True, timeout=60)


def run_postfix(base, sink_port, count):
    if os.geteuid() != 0:
        raise Unavailable("a private Postfix instance needs root")
    postfix = HeldPostfix(base, sink_port)
    try:
        postfix.run(SMTP_SOURCE, "-s", "10", "-m", str(count), "-l", str(SIZE),
                    "-f", "bench@example.test", "-t", RCPT,
                    f"127.0.0.1:{postfix.port}")
        wait(lambda: postfix.held() >= count, "postfix hold queue")
        start = time.monotonic()
        # Released mail goes to the deferred queue: flush it at once.
        postfix.run("/usr/sbin/postsuper", "-c", postfix.etc, "-H", "ALL")
        postfix.run("/usr/sbin/postqueue", "-c", postfix.etc, "-f")
        wait(lambda: postfix.sent() >= count, "postfix")
        return count / (time.monotonic() - start), None
    finally:
        postfix.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="mailsuite-outbench-"))
    base.chmod(0o755)
    sink_port = free_port()
    sink = subprocess.Popen([SMTP_SINK, "-u", "nobody", f"127.0.0.1:{sink_port}",
                             "1024"])
    try:
        wait_listening(sink_port)
        with Knot(base / "knot", ZONES) as knot:
            print(f"outbound: {args.messages} messages of {SIZE} bytes into smtp-sink, "
                  f"{CONNECTIONS} connections; {postfix_version()}; "
                  f"{args.runs} run(s), the servers taking turns")
            runners = {"mailsuite": lambda run: run_ours(base / f"ours-{run}", knot,
                                                         sink_port, args.messages),
                       "postfix": lambda run: run_postfix(base / f"postfix-{run}",
                                                          sink_port, args.messages)}
            report(measure(runners, args.runs), args.messages)
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(base, ignore_errors=True)


def measure(runners, runs):
    """{server: [(rate, start-up) or None per run]}, the first server
    alternating, so that a slower spell of the machine falls on both."""
    rates = {name: [] for name in runners}
    for run in range(runs):
        order = list(runners) if run % 2 == 0 else list(reversed(runners))
        for name in order:
            try:
                rates[name].append(runners[name](run))
            except Unavailable as exc:
                print(f"  {name:10} run {run + 1} not measured: {exc}")
                rates[name].append(None)
    return rates


def report(rates, count):
    for name, runs in rates.items():
        got = [r for r in runs if r is not None]
        if not got:
            continue
        line = f"  {name:10} {statistics.median(r for r, _ in got):8.0f} msgs/s (median)"
        startups = [s for _, s in got if s is not None]
        if startups:
            whole = statistics.median(count / (count / r + s) for r, s in got)
            line += (f"; start-up before it {statistics.median(startups) * 1000:.0f}"
                     f" ms ({whole:.0f} msgs/s with it counted)")
        print(line)
    pairs = [(o[0], p[0]) for o, p in zip(rates["mailsuite"], rates["postfix"])
             if o is not None and p is not None]
    if pairs:
        print(f"  ratio      {statistics.median(o / p for o, p in pairs):8.2f}x "
              "(median of paired runs; target >= 1.0x)")


if __name__ == "__main__":
    main()
