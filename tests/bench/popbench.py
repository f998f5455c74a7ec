#!/usr/bin/python3
"""make bench, POP3: our pop3d against Dovecot's pop3, on copies of the same mail.

For each generated mailbox (10,000 messages by default; maildirgen.py, cached
under build/bench/), both servers are started on their own copy of it (the
private Dovecot of imapservers.py, configured for POP3). Each first gets one
untimed visit, as a mail fetcher's first poll: the index is built and the sizes
learnt (and our auth cache holds the login, as after any login within
login.cache_ttl). Then each run times, on each server, the servers taking turns:

  login_stat_uidl   connect, USER, PASS, STAT and UIDL to its last line: what a
                    fetcher that leaves mail on the server does at every poll
  stat_uidl         STAT and UIDL in a session already logged in: the mailbox
                    work alone, without the password check (Dovecot verifies the
                    argon2id hash at every login, ours remembers a verified
                    login for login.cache_ttl)
  top_newest        TOP n 0 of the newest 50, one after another, in that session
  (the last two are the median of five in a row)

Every answer is checked (STAT's count, one UIDL line and one header per message).
Printed: each median, the median of the paired ratios (ours / Dovecot), the target
and whether it is met. Timings are printed, never asserted.
"""

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import maildirgen  # noqa: E402
from harness import Instance  # noqa: E402
from imapservers import (CONFIG, DOVECOT_MAIL_UID, Dovecot, Mailbox,  # noqa: E402
                         copy_maildir, dovecot_version)
from servers import Unavailable, start_servers  # noqa: E402

USER = Mailbox("bench@example.test", "bench-password-1", None)
COUNTS = (10_000,)
SERVERS = ("mailsuite", "dovecot")
NEWEST = 50
REPEAT = 5
TIMEOUT = 600


class Op(NamedTuple):
    key: str
    label: str
    limit: float            # the target: ours / Dovecot's at most this


OPS = [Op("login_stat_uidl", "LOGIN+STAT+UIDL", 2),
       Op("stat_uidl", "STAT+UIDL, logged in", 2),
       Op("top_newest", "TOP n 0 of the newest 50", 2)]


class PopError(Exception):
    """The server refused a command, answered wrongly or went away."""


class Client:
    """A lean POP3 client: commands out, answers in, as bytes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")
        self._ok(self.file.readline())

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self._ok(self.file.readline())

    def multiline(self, text):
        """The lines of a multi-line answer, without the final "."."""
        self.command(text)
        lines = []
        while (line := self.file.readline()) != b".\r\n":
            if not line:
                raise PopError(f"{text}: the server closed the connection")
            lines.append(line)
        return lines

    def login(self, user):
        self.command(f"USER {user.address}")
        return self.command(f"PASS {user.password}")

    def quit(self):
        """QUIT, then wait for the server to close: it has let go of the mailbox."""
        try:
            self.command("QUIT")
            while self.file.read(65536):
                pass
        finally:
            self.close()

    def close(self):
        self.file.close()
        self.sock.close()

    def _ok(self, line):
        if not line.startswith(b"+OK"):
            self.close()
            raise PopError(line.decode("utf-8", "replace").strip() or "connection closed")
        return line


# the servers

class Ours:
    name = "mailsuite"

    def __init__(self, base, mailboxes):
        self.inst = Instance(base)
        try:
            for box in mailboxes:
                self.inst.add_user(box.address, box.password)
                copy_maildir(box.source, self.inst.maildir(box.address))
            self.inst.start("pop3d")
        except BaseException as exc:
            self.inst.close()
            if isinstance(exc, AssertionError):
                raise Unavailable(str(exc).splitlines()[0]) from None
            raise
        self.port = self.inst.port("pop3")

    def session_over(self):
        """pop3d lets go of the mailbox before it answers QUIT."""

    def log(self):
        return self.inst.log("pop3d")

    def stop(self):
        self.inst.close()


class DovecotPop(Dovecot):
    """imapservers' private Dovecot, serving POP3 instead of IMAP."""
    session_process = "pop3"

    def _configure(self, mailboxes):
        super()._configure(mailboxes)
        imap = CONFIG.format(base=self.base, port=self.port, uid=DOVECOT_MAIL_UID)
        config = imap.replace("protocols = imap", "protocols = pop3")
        config = config.split("service imap-login")[0] + POP3_SERVICE.format(port=self.port)
        (self.base / "dovecot.conf").write_text(config)


# Dovecot's default UIDL format, written out: the same as ours. Its auth cache
# on, as ours is by default (login.cache_ttl): both verify the argon2id hash at
# the first visit only.
POP3_SERVICE = """\
pop3_uidl_format = %08Xu%08Xv
auth_cache_size = 10M
auth_cache_ttl = 300 s
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


# measuring

def login_stat_uidl(server, user, count):
    start = time.perf_counter()
    client = Client(server.port)
    try:
        client.login(user)
        stat_uidl(client, count)
        seconds = time.perf_counter() - start
    finally:
        client.quit()
        server.session_over()
    return seconds


def session_ops(server, user, count):
    client = Client(server.port)
    try:
        client.login(user)
        return {"stat_uidl": repeated(stat_uidl, client, count),
                "top_newest": repeated(top_newest, client, count)}
    finally:
        client.quit()
        server.session_over()


def repeated(fn, *args):
    """The median of REPEAT timings of fn(*args)."""
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[REPEAT // 2]


def stat_uidl(client, count):
    stat = client.command("STAT").split()
    lines = client.multiline("UIDL")
    if int(stat[1]) != count or len(lines) != count:
        raise PopError(f"STAT said {int(stat[1])} and UIDL listed {len(lines)} "
                       f"messages, expected {count}")


def top_newest(client, count):
    for number in range(max(1, count - NEWEST + 1), count + 1):
        header = client.multiline(f"TOP {number} 0")
        if not any(line.lower().startswith(b"subject:") for line in header):
            raise PopError(f"TOP {number} 0: no Subject")


def measure(servers, user, count, runs, deadline):
    """{server name: [{operation: seconds} per run]} and the problems met."""
    samples = {name: [] for name in servers}
    problems = []
    for server in servers.values():
        try:
            login_stat_uidl(server, user, count)        # the first visit, untimed
        except (PopError, OSError) as exc:
            problems.append(f"{server.name}, first visit: {exc}")
    for run in range(runs):
        if run and time.monotonic() > deadline:
            problems.append(f"time limit reached: {run} of {runs} runs done")
            break
        order = list(servers.values())
        if run % 2:
            order.reverse()
        for server in order:
            figures = {}
            try:
                figures["login_stat_uidl"] = login_stat_uidl(server, user, count)
                figures.update(session_ops(server, user, count))
            except (PopError, Unavailable, OSError) as exc:
                problems.append(f"{server.name}, run {run + 1}: {exc}")
            samples[server.name].append(figures)
    return samples, problems


def report(count, samples, runs):
    print(f"\nPOP3, {count:,} messages: {runs} run(s); medians; ratio = ours / "
          "Dovecot, the median of paired runs")
    head = f"{'operation':<27} {'ours':>10} {'dovecot':>10} {'ratio':>7}  target  met"
    print(head)
    print("-" * len(head))
    for op in OPS:
        ours = [r.get(op.key) for r in samples.get("mailsuite", [])]
        theirs = [r.get(op.key) for r in samples.get("dovecot", [])]
        ratio = _median([o / t for o, t in zip(ours, theirs) if o and t])
        met = "-" if ratio is None else ("yes" if ratio <= op.limit else "NO")
        print(f"{op.label:<27} {_ms(_median(ours)):>10} {_ms(_median(theirs)):>10} "
              f"{'-' if ratio is None else f'{ratio:.2f}x':>7}  <= {op.limit:g}x   {met}")
    sys.stdout.flush()


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ms(value):
    return "-" if value is None else f"{value * 1000:.1f} ms"


# the program

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(COUNTS),
                        help="comma-separated mailbox sizes (default 10000)")
    parser.add_argument("--runs", type=int, default=9, help="runs per size (default 9)")
    parser.add_argument("--only", choices=SERVERS, help="measure one server only")
    parser.add_argument("--time-limit", type=float, default=1800,
                        help="seconds after which no run starts (default 1800)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    which = {args.only} if args.only else set(SERVERS)
    deadline = time.monotonic() + args.time_limit
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{dovecot_version()}; the servers take turns run by run", flush=True)
    failed = False
    for count in args.counts:
        failed |= not bench_size(count, args, which, deadline)
    return 1 if failed else 0


def bench_size(count, args, which, deadline):
    """Measure one mailbox size; False if a server could not be measured."""
    box = USER._replace(source=maildirgen.cached(count))
    with tempfile.TemporaryDirectory(prefix="mailsuite-popbench.") as tmp:
        servers, notes = start_servers(Path(tmp), which, (Ours, DovecotPop), ([box],))
        try:
            for note in notes:
                print(note, flush=True)
            if not servers:
                return False
            samples, problems = measure(servers, box, count, args.runs, deadline)
            report(count, samples, args.runs)
            ours = servers.get("mailsuite")
            if ours and "Traceback" in ours.log():
                problems.append("pop3d logged a traceback")
            for problem in problems:
                print(f"  ! {problem}", flush=True)
            return not notes and not problems
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
