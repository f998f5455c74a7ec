#!/usr/bin/python3
"""make bench: mailsuite's smtpd + deliverd against a private Postfix, same load.

smtp-source (from Debian's postfix package) sends N messages at 1, 10 and 50
parallel sessions, 2 KiB and 64 KiB bodies, one connection per message (as MX
traffic arrives), to demo@example.test. For each point and each server:

  accepted  = messages / time smtp-source took (every message had its 250)
  delivered = messages / time from the start until the Maildir holds them all

The Postfix instance is private: its own config, queue and data directories in a
temporary folder, smtpd on a free loopback port, virtual(8) delivery to a Maildir
owned by `nobody`. It needs root (Postfix's master runs as root) and never touches
/etc/postfix or a running system Postfix; it is stopped and removed at the end.

Then latency: single messages sent with smtplib, timed from the 250 until an IMAP
session in IDLE sees EXISTS (ours) and until the file is in the Maildir (both).
Timings are printed, never asserted. With --repeat, each figure is the median.

Then memory (ours only): the peak resident size (VmHWM, reset just before) of
smtpd and of deliverd while eight clients send one 40 MiB message each at once,
until all are in the Maildir. `--memory-only` measures just that.
"""

import argparse
import imaplib
import os
import platform
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import procmem  # noqa: E402
from servers import (LATENCY_RCPT, RCPT, SMTP_SOURCE, SOURCE_TIMEOUT,  # noqa: E402
                     Unavailable, maildir_count, postfix_version, smtp_source,
                     start_servers)

SENDER = "bench@client.test"
SESSIONS = (1, 10, 50)
SIZES = (2048, 65536)
DELIVERY_TIMEOUT = 300      # seconds to wait for a point's messages in the Maildir
MEMORY_SESSIONS = 8
MEMORY_SIZE = 40 << 20
MEMORY_TARGETS = {"smtpd": 100 << 20, "deliverd": 150 << 20}


# throughput

def run_point(server, sessions, size, count):
    """(accepted msgs/s, delivered msgs/s) or an error string."""
    maildir = server.maildir()
    before = maildir_count(maildir)
    start = time.monotonic()
    taken = smtp_source(["-s", str(sessions), "-m", str(count), "-l", str(size),
                         "-f", SENDER, "-t", RCPT, f"127.0.0.1:{server.port}"])
    if isinstance(taken, str):
        return taken
    accepted_at = start + taken
    deadline = accepted_at + DELIVERY_TIMEOUT
    while maildir_count(maildir) < before + count:
        if time.monotonic() > deadline:
            got = maildir_count(maildir) - before
            return f"only {got}/{count} delivered after {DELIVERY_TIMEOUT} s"
        time.sleep(0.005)
    delivered_at = time.monotonic()
    return count / (accepted_at - start), count / (delivered_at - start)


def measure(servers, sessions, size, count, repeat):
    """{name: (accepted/s, delivered/s) medians, or an error string}, and the
    median of the paired ratios (ours / Postfix) for each figure. The servers
    take turns run by run, so that a slower spell of the machine falls on both."""
    runs = {name: [] for name in servers}
    for _ in range(repeat):
        for name, server in servers.items():
            runs[name].append(run_point(server, sessions, size, count))
    results, ok = {}, {}
    for name, results_of in runs.items():
        errors = [r for r in results_of if isinstance(r, str)]
        results[name] = errors[0] if errors else (
            statistics.median(r[0] for r in results_of),
            statistics.median(r[1] for r in results_of))
        ok[name] = not errors
    ratios = (None, None)
    if len(runs) == 2 and all(ok.values()):
        pairs = list(zip(runs["mailsuite"], runs["postfix"]))
        ratios = tuple(statistics.median(o[i] / p[i] for o, p in pairs) for i in (0, 1))
    return results, ratios


# latency

def message(i):
    return (f"From: <{SENDER}>\r\nTo: <{LATENCY_RCPT}>\r\nSubject: latency {i}\r\n"
            f"\r\nlatency probe {i}\r\n").encode()


def maildir_latency(server, n):
    """Seconds from the 250 to the file in the Maildir, for n single messages."""
    maildir = server.maildir(LATENCY_RCPT)
    samples = []
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        for i in range(n):
            before = maildir_count(maildir)
            smtp.sendmail(SENDER, [LATENCY_RCPT], message(i))
            sent = time.monotonic()
            deadline = sent + 10
            while maildir_count(maildir) <= before and time.monotonic() < deadline:
                time.sleep(0.0005)
            samples.append(time.monotonic() - sent)
    return samples


def imap_latency(ours, n):
    """Seconds from the 250 to `* N EXISTS` in an IMAP session in IDLE."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", ours.inst.port("imaps"),
                             ssl_context=ours.inst.client_tls_context(), timeout=30)
    samples = []
    try:
        imap.login(LATENCY_RCPT, ours.password)
        typ, data = imap.select("INBOX")
        exists = int(data[0])
        imap.send(b"L1 IDLE\r\n")
        if not imap.readline().startswith(b"+"):
            raise Unavailable("IDLE refused")
        imap.sock.settimeout(10)
        with smtplib.SMTP("127.0.0.1", ours.port, timeout=30) as smtp:
            for i in range(n):
                smtp.sendmail(SENDER, [LATENCY_RCPT], message(i))
                sent = time.monotonic()
                exists = _wait_exists(imap, exists + 1)
                samples.append(time.monotonic() - sent)
        imap.send(b"DONE\r\n")
        while not imap.readline().startswith(b"L1 "):
            pass
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return samples


def _wait_exists(imap, want):
    while True:
        line = imap.readline()
        if not line:
            raise Unavailable("IMAP connection closed during IDLE")
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"*" and parts[2].upper() == b"EXISTS" \
                and int(parts[1]) >= want:
            return int(parts[1])


def percentiles(samples):
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   (n={len(ordered)})"


# memory

LINE = b"0123456789" * 7 + b"abcdef\r\n"
BLOCK = LINE * ((1 << 20) // len(LINE))


def send_large(port, size, errors):
    """One message of about `size` bytes over a raw SMTP dialog (smtplib would
    copy it whole several times in this process)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
            smtp.ehlo("bench.client.test")
            smtp.mail(SENDER)
            smtp.rcpt(RCPT)
            if smtp.docmd("DATA")[0] != 354:
                raise smtplib.SMTPDataError(0, "DATA refused")
            smtp.sock.sendall(f"From: <{SENDER}>\r\nSubject: large\r\n\r\n".encode())
            for _ in range(size // len(BLOCK)):
                smtp.sock.sendall(BLOCK)
            smtp.sock.sendall(b".\r\n")
            code, text = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, text)
    except (smtplib.SMTPException, OSError) as exc:
        errors.append(str(exc))


def memory_point(ours, sessions, size):
    """{program: (resident before, peak during, peak is since start)} in bytes,
    or an error string."""
    pids = {p: ours.inst.pids[p] for p in ("smtpd", "deliverd")}
    before = {p: procmem.rss(pid) for p, pid in pids.items()}
    reset = {p: procmem.reset_peak(pid) for p, pid in pids.items()}
    maildir = ours.maildir()
    delivered = maildir_count(maildir) + sessions
    errors = []
    clients = [threading.Thread(target=send_large, args=(ours.port, size, errors))
               for _ in range(sessions)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(SOURCE_TIMEOUT)
    if errors:
        return f"{len(errors)} message(s) refused: {errors[0]}"
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while maildir_count(maildir) < delivered:
        if time.monotonic() > deadline:
            return f"not all delivered after {DELIVERY_TIMEOUT} s"
        time.sleep(0.01)
    return {p: (before[p], procmem.peak(pid), not reset[p]) for p, pid in pids.items()}


def report_memory(ours):
    print(f"\npeak memory, {MEMORY_SESSIONS} concurrent messages of "
          f"{MEMORY_SIZE >> 20} MiB, until delivered")
    result = memory_point(ours, MEMORY_SESSIONS, MEMORY_SIZE)
    if isinstance(result, str):
        print(f"  ! {result}")
        return
    for program, (before, peak, since_start) in result.items():
        note = " (peak since start: could not reset it)" if since_start else ""
        print(f"  {program:<9} {peak / (1 << 20):7.1f} MiB peak, "
              f"{before / (1 << 20):6.1f} MiB before; target under "
              f"{MEMORY_TARGETS[program] >> 20} MiB{note}", flush=True)


# the report

def fmt_rate(value):
    return f"{value:9.1f}" if isinstance(value, float) else f"{'-':>9}"


def fmt_ratio(ratio):
    return f"{ratio:6.2f}x" if isinstance(ratio, float) else f"{'-':>7}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000,
                        help="messages per point at 2 KiB (default 2000)")
    parser.add_argument("--large", type=int, default=1000,
                        help="messages per point at 64 KiB (default 1000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per point, the servers taking turns; figures are "
                        "medians, ratios the median of the paired runs (default 3)")
    parser.add_argument("--latency", type=int, default=200,
                        help="messages in the latency loop (default 200; 0 skips)")
    parser.add_argument("--sessions", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(SESSIONS),
                        help="comma-separated session counts (default 1,10,50)")
    parser.add_argument("--only", choices=("mailsuite", "postfix"),
                        help="measure one server only")
    parser.add_argument("--memory-only", action="store_true",
                        help="measure only mailsuite's peak memory under "
                        f"{MEMORY_SESSIONS} concurrent {MEMORY_SIZE >> 20} MiB messages")
    args = parser.parse_args(argv)
    which = {args.only} if args.only else {"mailsuite", "postfix"}
    if args.memory_only:
        which = {"mailsuite"}
    if not os.access(SMTP_SOURCE, os.X_OK):
        print(f"bench: {SMTP_SOURCE} missing: run `make deps`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mailsuite-bench.") as tmp:
        os.chmod(tmp, 0o755)        # Postfix's daemons run as postfix and nobody
        servers, notes = start_servers(Path(tmp), which)
        try:
            for note in notes:
                print(note, flush=True)
            if not servers:
                return 1
            run_all(servers, args)
        finally:
            for server in servers.values():
                server.stop()
    return 0


def run_all(servers, args):
    ours, postfix = servers.get("mailsuite"), servers.get("postfix")
    if args.memory_only:
        report_memory(ours)
        return
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{postfix_version()}; one connection per message, recipient {RCPT}; "
          f"{args.repeat} run(s) per point taken in turns; medians, "
          "ratios are medians of paired runs", flush=True)
    head = (f"{'sess':>4} {'size':>6} {'msgs':>5} | {'ours acc/s':>10} {'dlv/s':>9} | "
            f"{'postfix acc/s':>13} {'dlv/s':>9} | {'acc ratio':>9} {'dlv ratio':>9}")
    print(head)
    print("-" * len(head), flush=True)
    problems = []
    for size in SIZES:
        count = args.small if size == SIZES[0] else args.large
        for sessions in args.sessions:
            results, ratios = measure(servers, sessions, size, count, args.repeat)
            row = {}
            for name, result in results.items():
                if isinstance(result, str):
                    problems.append(f"{name}, {sessions} sessions, {size // 1024} KiB: "
                                    f"{result}")
                    result = (None, None)
                row[name] = result
            o = row.get("mailsuite", (None, None))
            p = row.get("postfix", (None, None))
            print(f"{sessions:>4} {size // 1024:>4}Ki {count:>5} | {fmt_rate(o[0]):>10} "
                  f"{fmt_rate(o[1])} | {fmt_rate(p[0]):>13} {fmt_rate(p[1])} | "
                  f"{fmt_ratio(ratios[0]):>9} {fmt_ratio(ratios[1]):>9}", flush=True)
    for problem in problems:
        print(f"  ! {problem}")
    if args.latency:
        print(f"\nlatency, 250 reply -> visible ({args.latency} messages, one at a time)")
        report_latency(ours, postfix, args.latency)
    if ours:
        report_memory(ours)


def report_latency(ours, postfix, n):
    probes = []
    if ours and "imaps" in ours.inst.ports:
        probes.append(("mailsuite  250 -> IMAP IDLE EXISTS", imap_latency, ours))
    elif ours:
        print("  mailsuite  250 -> IMAP: imapd not running, not measured")
    if ours:
        probes.append(("mailsuite  250 -> in Maildir      ", maildir_latency, ours))
    if postfix:
        probes.append(("postfix    250 -> in Maildir      ", maildir_latency, postfix))
    for label, probe, server in probes:
        try:
            print(f"  {label} {percentiles(probe(server, n))}", flush=True)
        except (Unavailable, OSError, imaplib.IMAP4.error, smtplib.SMTPException) as exc:
            print(f"  {label} failed: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
