"""What davd's /health reports: is every socket of the suite listening, how full
is the queue and how old its oldest message, how much disk is left, how long the
certificate lasts.

    report(cfg, now=None) -> Health(ok, checks)     # checks: {name: dict}

A socket counts as up when something listens on it: a TCP port in the kernel's
table of listening sockets (/proc/self/net, which ProcSubset=pid leaves), a wake-up socket's file in the runtime directory.
Nothing connects, so a check neither starts a socket-activated daemon nor leaves a
line in its log. The ports are the socket units' (installed or in the source);
`[health] ports` replaces them where the daemons listen elsewhere (make run,
tests). Each check yields a dict with "ok" and its figures; a check that cannot
look (an unreadable file) is not ok and says why in "error".
"""

import datetime
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import lmdb

from ..core.units import port_option, unit_sockets

LISTEN = "0A"       # TCP_LISTEN in /proc/net/tcp's "st" column
MIB = 1 << 20


class Health(NamedTuple):
    ok: bool
    checks: dict


def report(cfg, now=None):
    now = time.time() if now is None else now
    checks = {
        "sockets": sockets(cfg),
        "queue": queue(cfg.state_dir, now),
        "disk": disk(cfg.state_dir, cfg.health.min_free_mib),
        "certificate": certificate(Path(cfg.tls.cert), now),
    }
    return Health(all(check["ok"] for check in checks.values()), checks)


def sockets(cfg):
    ports = dict(port_option(text) for text in cfg.health.ports)
    listening = listening_ports()
    found = {}
    for sock in unit_sockets():
        if sock.listen.startswith("/"):
            path = Path(cfg.runtime_dir) / Path(sock.listen).name
            found[sock.name] = {"ok": path.is_socket(), "socket": str(path)}
        else:
            port = ports.get(sock.name) or int(sock.listen.rpartition(":")[2])
            found[sock.name] = {"ok": port in listening, "port": port}
    return {"ok": bool(found) and all(s["ok"] for s in found.values()),
            "listening": found}


def listening_ports(proc=Path("/proc/self/net")):
    """The TCP ports something listens on, IPv4 and IPv6."""
    ports = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def queue(state_dir, now):
    from ..core.spool import Spool
    try:
        if not (Path(state_dir) / "spool").is_dir():
            return {"ok": True, "messages": 0, "oldest_seconds": 0}
        with Spool(Path(state_dir)) as spool:
            entries = spool.entries()
    except (OSError, lmdb.Error) as exc:
        return {"ok": False, "error": f"cannot read the queue: {exc}"}
    oldest = min((entry.arrival for entry in entries), default=now)
    return {"ok": True, "messages": len(entries),
            "oldest_seconds": round(max(now - oldest, 0))}


def disk(state_dir, min_free_mib):
    try:
        usage = shutil.disk_usage(state_dir)
    except OSError as exc:
        return {"ok": False, "error": f"{state_dir}: {exc.strerror}"}
    free = usage.free // MIB
    return {"ok": free >= min_free_mib, "free_mib": free,
            "total_mib": usage.total // MIB, "min_free_mib": min_free_mib}


def certificate(path, now):
    from cryptography import x509
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": f"{path}: {getattr(exc, 'strerror', None) or exc}"}
    expires = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()
    days = (expires - now) / 86400
    return {"ok": days > 0, "days_left": round(days, 1),
            "subject": cert.subject.rfc4514_string()}

