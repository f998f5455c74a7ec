"""Memory figures of a running process, from /proc/<pid>/status (Linux): its
resident size now, and its peak (VmHWM) since it started or since the peak was
last reset."""

import os


def _status_bytes(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(f"{field} not in /proc/{pid}/status")


def rss(pid):
    """Resident set size now, in bytes."""
    return _status_bytes(pid, "VmRSS")


def peak(pid):
    """The highest resident set size, in bytes."""
    return _status_bytes(pid, "VmHWM")


def reset_peak(pid):
    """Make the peak start afresh from the present size (clear_refs "5", Linux
    4.0+). False if not allowed: the peak then still counts from the start, so a
    growth measured from it is overstated, never understated."""
    try:
        fd = os.open(f"/proc/{pid}/clear_refs", os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, b"5")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
