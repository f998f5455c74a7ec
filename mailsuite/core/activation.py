"""Socket activation and the service manager protocol.

A program never binds its own listening sockets: systemd (or `bin/mailsuite-dev`, which
speaks the same protocol) hands them over in LISTEN_FDS / LISTEN_FDNAMES, named by the
socket unit's FileDescriptorName=. sd_notify messages (READY, STOPPING, STATUS) go to
$NOTIFY_SOCKET and are silently dropped when nobody listens.
"""

import os
import socket

from systemd import daemon

LISTEN_FDS_START = 3


class ActivationError(Exception):
    """The sockets handed over do not match what the program needs."""


def listen_sockets():
    """The sockets passed by the supervisor, as a list of (name, socket).

    The environment variables are cleared so that children do not inherit them
    (sd_listen_fds(3) with unset_environment=1).
    """
    names = daemon.listen_fds_with_names(unset_environment=True)
    # The C library unsets its own environment only; os.environ is a copy.
    for key in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"):
        os.environ.pop(key, None)
    result = []
    for fd, name in sorted(names.items()):
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        result.append((name or "unknown", sock))
    return result


def require(sockets, allowed):
    """Check that every socket is one this program serves; raise ActivationError."""
    if not sockets:
        raise ActivationError(
            "no listening sockets: start this program through its systemd socket unit "
            "or bin/mailsuite-dev")
    for name, _ in sockets:
        if name not in allowed:
            raise ActivationError(
                f"socket named {name!r} is not one of {', '.join(sorted(allowed))} "
                "(set FileDescriptorName= in the socket unit)")


def notify(state):
    """Send a state string (READY=1, STOPPING=1, STATUS=…) to the service manager."""
    if os.environ.get("NOTIFY_SOCKET"):
        try:
            daemon.notify(state)
        except OSError:
            pass      # the manager went away: nobody to tell


def ready(status=None):
    notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping():
    notify("STOPPING=1")


def under_systemd():
    """True when started by systemd (journald is then the place for logs)."""
    return bool(os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM"))
