#!/usr/bin/python3
"""make bench, outbound: how fast deliverd empties a queue of mail for another
domain, next to Postfix emptying the same queue, into the same smtp-sink.

One smtp-sink (Debian's postfix package) on a free loopback port is the remote
MX of sink.test, whose MX record Knot DNS serves. For each server, N messages
(2 KiB) to r@sink.test are queued first, held, then released:

  ours:    queued in the spool with deliverd stopped; deliverd started, timed
           until the spool is empty (every message's 250 recorded)
  postfix: sent to its smtpd, where every message is put on hold; released
           with `postsuper -H ALL` and `postqueue -f`, timed until its log
           shows every message sent (Postfix asks no DNS: its relayhost
           names the sink)

Both use up to 20 connections to the destination (Postfix's default). Rates are
printed with their ratio; nothing is asserted.
"""

import argparse
import os
import shutil
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
from postfixconf import loopback_smtpd, master_cf  # noqa: E402
from servers import POSTCONF, POSTFIX, postfix_version, wait_listening  # noqa: E402

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
    inst = Instance(base / "ours")
    try:
        inst.add_config(f'[outbound]\nnameservers = ["{knot.nameserver}"]\n'
                        f"smtp_port = {sink_port}\nmax_per_destination = {CONNECTIONS}\n")
        with Spool(inst.state) as spool:
            for i in range(count):
                spool.enqueue_sync(new_qid(), "bench@example.test", [RCPT], body(i))
            start = time.monotonic()
            inst.start("deliverd")
            wait(lambda: spool.count() == 0, "deliverd")
            return count / (time.monotonic() - start)
    finally:
        inst.close()


class HeldPostfix:
    """A private Postfix that holds what it receives and relays it to the sink."""

    def __init__(self, base, sink_port):
        self.base, self.etc = base, base / "etc"
        self.port = free_port()
        for sub in ("etc", "queue", "data"):
            (base / sub).mkdir(parents=True)
        base.chmod(0o755)
        shutil.chown(base / "data", "postfix")
        (self.etc / "master.cf").write_text(master_cf(loopback_smtpd(self.port)))
        (self.etc / "main.cf").write_text("")
        self.run(POSTCONF, "-c", self.etc, "-e", *(f"{k}={v}" for k, v in {
            "compatibility_level": "3.6", "queue_directory": base / "queue",
            "data_directory": base / "data", "mail_owner": "postfix",
            "setgid_group": "postdrop", "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4", "myhostname": "postfix.bench.test",
            "mydestination": "", "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{sink_port}",
            "smtpd_recipient_restrictions":
                "check_recipient_access static:HOLD, permit_mynetworks, reject",
            "default_destination_concurrency_limit": CONNECTIONS,
            "smtp_tls_security_level": "none", "alias_maps": "", "biff": "no",
            "maillog_file": base / "postfix.log",
            "maillog_file_prefixes": base}.items()))
        self.run(POSTFIX, "-c", self.etc, "start")
        wait_listening(self.port)

    def run(self, *argv):
        proc = subprocess.run([os.fspath(a) for a in argv], capture_output=True,
                              text=True, timeout=120)
        if proc.returncode != 0:
            raise Unavailable(f"{Path(argv[0]).name} failed: {proc.stderr.strip()}")

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
    postfix = HeldPostfix(base / "postfix", sink_port)
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
        return count / (time.monotonic() - start)
    finally:
        postfix.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=2000)
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
                  f"{CONNECTIONS} connections; {postfix_version()}")
            rates = {}
            for name, run in (("mailsuite", lambda: run_ours(base, knot, sink_port,
                                                             args.messages)),
                              ("postfix", lambda: run_postfix(base, sink_port,
                                                              args.messages))):
                try:
                    rates[name] = run()
                    print(f"  {name:10} {rates[name]:8.0f} msgs/s")
                except Unavailable as exc:
                    print(f"  {name:10} not measured: {exc}")
            if len(rates) == 2:
                print(f"  ratio      {rates['mailsuite'] / rates['postfix']:8.2f}x "
                      "(target >= 1.0x)")
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
