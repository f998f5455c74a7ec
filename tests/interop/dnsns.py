"""Run a program whose DNS lookups a real authoritative server answers.

    run_with_zone(workdir, origin, records, argv, input) -> CompletedProcess

The program runs in private user, network and mount namespaces (unshare(1), no
privilege needed): there knotd (Knot DNS) listens on 127.0.0.1:53 of a loopback
interface of its own, serving the zone `origin` made of a SOA, an NS and the
zone-file lines `records` (as `mailctl dns` prints them), and /etc/resolv.conf
is bind-mounted to name that server alone. So a verifier that looks its keys up
through the system resolver (libopendkim's res_nquery, Perl's Net::DNS) asks
knot, and nothing on the host changes.

A zone knot refuses (a bad record) or a server that does not start fails the
call with knot's log. Run as a script, this file is the part inside the
namespaces.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import dns.exception
import dns.message
import dns.query

TIMEOUT = 120


def run_with_zone(workdir, origin, records, argv, input):
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    origin = origin.rstrip(".") + "."
    (workdir / "zone").write_text(
        f"$ORIGIN {origin}\n$TTL 300\n"
        f"@ SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 300\n"
        f"@ NS ns.{origin}\nns.{origin} A 127.0.0.1\n" + "\n".join(records) + "\n")
    (workdir / "knot.conf").write_text(
        f'server:\n    rundir: "{workdir}"\n    listen: 127.0.0.1@53\n'
        f'database:\n    storage: "{workdir}/db"\n'
        "log:\n  - target: stderr\n    any: info\n"
        f'zone:\n  - domain: {origin}\n    file: "{workdir}/zone"\n'
        f'    storage: "{workdir}"\n')
    (workdir / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:2\n")
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "--mount",
         "/usr/bin/python3", __file__, os.fspath(workdir), origin, *argv],
        input=input, capture_output=True, timeout=TIMEOUT)


def _inside(workdir, origin, argv):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", f"{workdir}/resolv.conf", "/etc/resolv.conf"],
                   check=True)
    knot = subprocess.Popen(["knotd", "-c", f"{workdir}/knot.conf"],
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_serving(knot, origin)
        _wait_until_answering(origin)
        return subprocess.run(argv).returncode
    finally:
        knot.terminate()
        knot.wait()


def _wait_until_serving(knot, origin):
    """Read knot's log until the zone is loaded and the server started, in
    either order; its exit (EOF) first is a failure. The rest of the log is
    drained so that knot never blocks on it."""
    log, seen = [], set()
    for line in knot.stderr:
        log.append(line)
        if f"[{origin}] loaded" in line:
            seen.add("zone")
        if "server started" in line:
            seen.add("server")
        if seen == {"zone", "server"}:
            threading.Thread(target=knot.stderr.read, daemon=True).start()
            return
    raise SystemExit("knotd is not serving the zone:\n" + "".join(log))


def _wait_until_answering(origin, tries=60):
    """Ask for the zone's SOA until knot answers: its log says "started" before
    its UDP workers may take queries on a busy machine, and a verifier's first
    lookup lost then is reported as a DNS timeout."""
    query = dns.message.make_query(origin, "SOA")
    for _ in range(tries):
        try:
            if dns.query.udp(query, "127.0.0.1", timeout=1).answer:
                return
        except (dns.exception.Timeout, OSError):
            continue
    raise SystemExit(f"knotd does not answer for {origin}")


if __name__ == "__main__":
    sys.exit(_inside(sys.argv[1], sys.argv[2], sys.argv[3:]))
