"""Run by the container's python3 (bind-mounted at /mnt/tests): what a service's
main process is, as the kernel sees it.

    python3 /mnt/tests/probe.py UNIT.service

prints JSON: the main pid, its real and effective uid and gid, its effective and
bounding capability sets, and `inherited`: the listening sockets it holds that
systemd (PID 1) holds too, as "tcp:PORT" or "unix:PATH". A socket held by both is
one that systemd bound and handed over: socket activation, not a program that
binds its own ports.
"""

import json
import os
import subprocess
import sys

LISTEN = "0A"     # TCP_LISTEN in /proc/net/tcp


def main_pid(unit):
    out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listeners():
    """inode -> "tcp:PORT" or "unix:PATH" for every listening or bound socket."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == LISTEN:
                    found[cols[9]] = f"tcp:{int(cols[1].rsplit(':', 1)[1], 16)}"
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            if len(cols) >= 8:
                found[cols[6]] = f"unix:{cols[7]}"
    return found


def probe(unit):
    pid = main_pid(unit)
    if pid == 0:
        return {"pid": 0}
    st = status(pid)
    shared = socket_inodes(pid) & socket_inodes(1)
    table = listeners()
    return {
        "pid": pid,
        "uid": [int(x) for x in st["Uid"][:2]],
        "gid": [int(x) for x in st["Gid"][:2]],
        "cap_eff": int(st["CapEff"][0], 16),
        "cap_bnd": int(st["CapBnd"][0], 16),
        "inherited": sorted(table[inode] for inode in shared if inode in table),
    }


if __name__ == "__main__":
    print(json.dumps({unit: probe(unit) for unit in sys.argv[1:]}))
