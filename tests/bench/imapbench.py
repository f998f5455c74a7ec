#!/usr/bin/python3
"""make bench, IMAP: our imapd against a private Dovecot, on copies of the same mail.

For each generated mailbox (10,000 and 100,000 messages by default; see
maildirgen.py, cached under build/bench/), both servers are started on their own
copy of it, with a second user who has a small mailbox, and each run does the
operations of imapops.py and imapsearch.py on each server, the servers taking
turns (the first one alternating) so that a slower spell of the machine falls on
both. Printed per operation: our median, Dovecot's, the median of the paired
ratios (ours / Dovecot), the target and whether it is met. "Cold" runs remove the
index first; they may be fewer than the others at 100,000 messages (--cold-runs).
Timings are printed, never asserted. No run starts after --time-limit seconds;
what was measured by then is reported.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import maildirgen  # noqa: E402
from imapwire import ImapError  # noqa: E402
from imapops import Plan, User, logged_in, run_once  # noqa: E402
from imapsearch import search_ops  # noqa: E402
from imapservers import Dovecot, Mailbox, Ours, dovecot_version  # noqa: E402
from servers import Unavailable, start_servers  # noqa: E402

USER = User("bench@example.test", "bench-password-1")
OTHER = User("other@example.test", "bench-password-2")
OTHER_COUNT = 20
COUNTS = (10_000, 100_000)
SERVERS = ("mailsuite", "dovecot")


class Op(NamedTuple):
    key: str
    label: str
    versus: str             # "dovecot": ours / Dovecot's; "alone": ours / our `login`
    limit: float            # the target: that ratio at most this
    target: str


OPS = [
    Op("cold", "LOGIN+SELECT, cold index", "dovecot", 2, "<= 2x"),
    Op("warm", "LOGIN+SELECT, warm", "dovecot", 2, "<= 2x"),
    Op("select", "SELECT", "dovecot", 2, "<= 2x"),
    Op("flags", "UID FETCH 1:* (FLAGS)", "dovecot", 2, "<= 2x"),
    Op("newest", "FETCH newest 50", "dovecot", 2, "<= 2x"),
    Op("store_add", "UID STORE +FLAGS, 1,000 msgs", "dovecot", 2, "<= 2x"),
    Op("store_remove", "UID STORE -FLAGS, 1,000 msgs", "dovecot", 2, "<= 2x"),
    Op("select_after", "SELECT after another's STORE", "dovecot", 0.2, "<= 0.2x"),
    Op("login", "other user's LOGIN, alone", "dovecot", 2, "<= 2x"),
    Op("login_busy", "its LOGIN during cold SELECT", "alone", 2, "<= 2x alone"),
    Op("search_subject", "UID SEARCH SUBJECT, warm", "dovecot", 2, "<= 2x"),
    Op("search_body", "UID SEARCH BODY, warm", "dovecot", 2, "<= 2x"),
    Op("search_unseen", "UID SEARCH UNSEEN", "dovecot", 2, "<= 2x"),
    Op("sort_date", "UID SORT (DATE), warm", "dovecot", 2, "<= 2x"),
    Op("thread_refs", "UID THREAD REFERENCES, warm", "dovecot", 2, "<= 2x"),
    Op("memory", "memory of a session (MiB)", "dovecot", 1, "<= 1x"),
    Op("memory_mailbox", "  of it after LOGIN (MiB)", "dovecot", 1, "<= 1x"),
]


class Row(NamedTuple):
    ours: float | None
    theirs: float | None
    ratio: float | None     # the median of the paired ratios, ours / Dovecot
    own: float | None       # for a target "alone": ours / our LOGIN alone


# measuring

def measure(servers, plan, runs, cold_runs, deadline):
    """{server name: [{operation: figure} per run]} and the problems met."""
    samples = {name: [] for name in servers}
    problems = []
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
                figures.update(run_once(server, plan, cold=run < cold_runs))
                figures.update(search_ops(server, plan))
            except (ImapError, Unavailable, OSError) as exc:
                problems.append(f"{server.name}, run {run + 1}: {exc}")
            samples[server.name].append(figures)
    return samples, problems


def summarize(samples, op):
    ours = _values(samples.get("mailsuite", []), op.key)
    theirs = _values(samples.get("dovecot", []), op.key)
    pairs = [(o, t) for o, t in zip(_values(samples.get("mailsuite", []), op.key, True),
                                    _values(samples.get("dovecot", []), op.key, True))
             if o is not None and t is not None and t > 0]
    own = None
    if op.versus == "alone":
        runs = samples.get("mailsuite", [])
        mine = [(r.get(op.key), r.get("login")) for r in runs]
        own = _median([b / a for b, a in mine if b is not None and a])
    return Row(_median(ours), _median(theirs), _median([o / t for o, t in pairs]), own)


def _values(runs, key, keep_gaps=False):
    values = [r.get(key) for r in runs]
    return values if keep_gaps else [v for v in values if v is not None]


def _median(values):
    return statistics.median(values) if values else None


def structure_served(server, user):
    """True if the server answers FETCH ENVELOPE BODYSTRUCTURE (today's imapd
    answers BAD: those items come with the next issue)."""
    client = logged_in(server, user)
    try:
        client.command("EXAMINE INBOX")
        try:
            client.command("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
        except ImapError:
            return False
        return True
    finally:
        client.logout()
        server.session_over()


# the report

def report(count, samples, runs, cold_runs):
    print(f"\nIMAP, {count:,} messages: {runs} run(s), {min(runs, cold_runs)} cold; "
          "medians; ratio = ours / Dovecot, the median of paired runs")
    head = (f"{'operation':<31} {'ours':>11} {'dovecot':>11} {'ratio':>7}  "
            f"{'target':<12} met")
    print(head)
    print("-" * len(head))
    for op in OPS:
        row = summarize(samples, op)
        print(f"{op.label:<31} {_figure(op, row.ours):>11} {_figure(op, row.theirs):>11} "
              f"{_ratio(row.ratio):>7}  {op.target:<12} {_met(op, row)}")
    sys.stdout.flush()


def _figure(op, value):
    if value is None:
        return "-"
    if op.key.startswith("memory"):
        return f"{value / 1024:.1f}"
    return f"{value * 1000:.1f} ms"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def _met(op, row):
    ratio = row.own if op.versus == "alone" else row.ratio
    if ratio is None:
        return "-"
    verdict = "yes" if ratio <= op.limit else "NO"
    return f"{verdict} ({ratio:.2f}x)" if op.versus == "alone" else verdict


# the program

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(COUNTS),
                        help="comma-separated mailbox sizes (default 10000,100000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per size (default 5)")
    parser.add_argument("--cold-runs", type=int,
                        help="runs that rebuild the index (default: all of them, "
                        "3 from 100,000 messages up)")
    parser.add_argument("--only", choices=SERVERS, help="measure one server only")
    parser.add_argument("--structure", choices=("auto", "on", "off"), default="auto",
                        help="ENVELOPE and BODYSTRUCTURE in the newest-50 FETCH: "
                        "auto = when our imapd serves them (default)")
    parser.add_argument("--time-limit", type=float, default=3600,
                        help="seconds after which no run starts (default 3600)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    which = {args.only} if args.only else set(SERVERS)
    deadline = time.monotonic() + args.time_limit
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{dovecot_version()}; the servers take turns run by run", flush=True)
    failed = False
    for count in args.counts:
        cold_runs = args.cold_runs or (min(args.runs, 3) if count >= 100_000
                                       else args.runs)
        failed |= not bench_size(count, args, which, cold_runs, deadline)
    return 1 if failed else 0


def bench_size(count, args, which, cold_runs, deadline):
    """Measure one mailbox size; False if a server could not be measured."""
    boxes = [Mailbox(USER.address, USER.password, maildirgen.cached(count)),
             Mailbox(OTHER.address, OTHER.password, maildirgen.cached(OTHER_COUNT, 2))]
    with tempfile.TemporaryDirectory(prefix="mailsuite-imapbench.") as tmp:
        servers, notes = start_servers(Path(tmp), which, (Ours, Dovecot), (boxes,))
        try:
            for note in notes:
                print(note, flush=True)
            if not servers:
                return False
            samples, problems = run_size(servers, count, args, cold_runs, deadline)
            report(count, samples, args.runs, cold_runs)
            problems += log_problems(servers)
            for problem in problems:
                print(f"  ! {problem}", flush=True)
            return not notes and not problems
        finally:
            for server in servers.values():
                server.stop()


def run_size(servers, count, args, cold_runs, deadline):
    structure = args.structure == "on"
    if args.structure == "auto":
        ours = servers.get("mailsuite")
        structure = structure_served(ours, USER) if ours else True
    print(f"{count:,} messages: ENVELOPE and BODYSTRUCTURE "
          f"{'in' if structure else 'not in'} the newest-50 FETCH", flush=True)
    plan = Plan(USER, count, OTHER, structure)
    return measure(servers, plan, args.runs, cold_runs, deadline)


def log_problems(servers):
    ours = servers.get("mailsuite")
    if ours and "Traceback" in ours.log():
        start = ours.log().index("Traceback")
        return ["imapd logged a traceback:\n" + ours.log()[start:start + 1500]]
    return []


if __name__ == "__main__":
    sys.exit(main())
