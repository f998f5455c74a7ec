#!/usr/bin/python3
"""make bench, submission: messages a second that submitd accepts from logged-in
users, with DKIM signing (rsa-sha256 and ed25519-sha256 on every message) and
without, next to a private Postfix with two opendkim milters doing the same.

An asyncio client in this process opens S sessions at once, each one message:
implicit TLS (port 465's way), EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT, as a
mail client sends one message. A rate is messages over the time from the first
connection to the last 250 (every message must get its 250, else the run is a
problem, not a figure). Nothing is delivered: submitd runs without deliverd,
and Postfix puts every message on hold. Servers take turns run by run; figures
are medians, ratios to Postfix the medians of the paired runs. Nothing is
asserted (tests/protocol/test_submit_bench.py runs this code on a few messages).
"""

import argparse
import asyncio
import base64
import email.utils
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from servers import Unavailable, postfix_version  # noqa: E402
from submitservers import (PASSWORD, RCPT, USER, OursSubmit,  # noqa: E402
                           PostfixSubmit)

SIZE = 4096               # bytes of a message, about a short mail with a signature
TIMEOUT = 600             # seconds one run may take


class Refused(Exception):
    """A reply other than the one expected; the text says which."""


def message(i, size=SIZE):
    head = (f"From: <{USER}>\r\nTo: <{RCPT}>\r\nSubject: bench {i}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            f"Message-ID: <bench.{i}.{time.time_ns()}@example.test>\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    return (head + line * max((size - len(head)) // len(line), 1)).encode()


async def _expect(reader, code):
    """Read one reply (all its lines); Refused unless it starts with `code`."""
    while True:
        line = await reader.readline()
        if not line:
            raise Refused(f"connection closed, {code} expected")
        if line[3:4] != b"-":
            break
    if not line.startswith(code.encode()):
        raise Refused(line.decode(errors="replace").strip())


async def submit(port, context, data, user=USER, password=PASSWORD):
    """One session, one message."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        await _expect(reader, "220")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        for command, code in ((b"EHLO bench.client.test", "250"),
                              (f"AUTH PLAIN {token}".encode(), "235"),
                              (f"MAIL FROM:<{user}>".encode(), "250"),
                              (f"RCPT TO:<{RCPT}>".encode(), "250"),
                              (b"DATA", "354")):
            writer.write(command + b"\r\n")
            await _expect(reader, code)
        writer.write(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        await _expect(reader, "250")
        writer.write(b"QUIT\r\n")
        await _expect(reader, "221")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def load(port, count, sessions, password=PASSWORD):
    """Messages a second for `count` messages over `sessions` sessions at once;
    raises Refused (or OSError) when one message fails."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    bodies = [message(i) for i in range(count)]
    todo = iter(bodies)

    async def worker():
        for data in todo:
            await submit(port, context, data, password=password)

    start = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(sessions))),
                           TIMEOUT)
    return count / (time.monotonic() - start)


def run_point(server, count, sessions):
    """A rate, or the problem as a string."""
    try:
        return asyncio.run(load(server.port, count, sessions))
    except (Refused, OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"


def measure(servers, count, sessions, repeat):
    """({name: median rate or problem}, {name: median ratio to Postfix})."""
    runs = {name: [] for name in servers}
    for _ in range(repeat):
        for name, server in servers.items():
            runs[name].append(run_point(server, count, sessions))
    rates, ratios = {}, {}
    for name, results in runs.items():
        problems = [r for r in results if isinstance(r, str)]
        rates[name] = problems[0] if problems else statistics.median(results)
    reference = runs.get(PostfixSubmit.name)
    for name, results in runs.items():
        if reference and name != PostfixSubmit.name and not any(
                isinstance(r, str) for r in results + reference):
            ratios[name] = statistics.median(o / p for o, p in zip(results, reference))
    return rates, ratios


def report(count, sessions, rates, ratios):
    print(f"{'server':<18} {'sess':>4} {'msgs':>5} | {'accepted/s':>10} "
          f"{'vs postfix':>10}")
    for name, rate in rates.items():
        shown = f"{rate:10.1f}" if isinstance(rate, float) else f"{'-':>10}"
        ratio = f"{ratios[name]:9.2f}x" if name in ratios else f"{'-':>10}"
        print(f"{name:<18} {sessions:>4} {count:>5} | {shown} {ratio}", flush=True)
    for name, rate in rates.items():
        if isinstance(rate, str):
            print(f"  ! {name}: {rate}")


def start(base, with_postfix):
    """The servers, and a note for each that could not start."""
    servers, notes = {}, []
    for sign in (True, False):
        try:
            ours = OursSubmit(base / f"ours-{int(sign)}", sign=sign)
            servers[ours.name] = ours
        except Unavailable as exc:
            notes.append(f"mailsuite: not measured: {exc}")
    signer = servers.get("mailsuite")
    if with_postfix and signer is not None:
        try:
            servers[PostfixSubmit.name] = PostfixSubmit(base / "postfix", signer.keys())
        except Unavailable as exc:
            notes.append(f"{PostfixSubmit.name}: not measured: {exc}")
    return servers, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=500,
                        help="messages per run (default 500)")
    parser.add_argument("--sessions", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1, 20], help="sessions at once, comma-separated "
                        "(default 1,20)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per point, servers in turns (default 3)")
    parser.add_argument("--no-postfix", action="store_true",
                        help="measure submitd only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailsuite-submitbench.") as tmp:
        os.chmod(tmp, 0o755)        # Postfix's daemons run as postfix
        servers, notes = start(Path(tmp), not args.no_postfix)
        try:
            for note in notes:
                print(note, flush=True)
            print(f"submission: messages of {SIZE} bytes, one TLS session with AUTH "
                  f"PLAIN each; {postfix_version()}; {args.repeat} run(s), medians")
            for sessions in args.sessions:
                rates, ratios = measure(servers, args.messages, sessions, args.repeat)
                report(args.messages, sessions, rates, ratios)
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
