"""The development instance: `make run` and the test harness start daemons with this.

It plays systemd's part in socket activation: binds the listening sockets, then
forks and execs each daemon with the sockets at fd 3… and LISTEN_FDS, LISTEN_FDNAMES
and LISTEN_PID set exactly as systemd sets them (sd_listen_fds(3)), so the daemons
run the same code path under both supervisors. Not used in production.
"""

import os
import resource
import secrets
import signal
import socket
import sys
from pathlib import Path

from .core import tls

ROOT = Path(__file__).resolve().parent.parent
# Debian's interpreter; MAILSUITE_PYTHON names another (to test on a newer Python).
PYTHON = os.environ.get("MAILSUITE_PYTHON", "/usr/bin/python3")

# program -> [(fd name, dev port, implicit TLS)]; a port of None is a unix socket
# in the runtime dir (deliverd's wake-up socket, a datagram socket).
PROGRAMS = {
    "smtpd": [("smtp", 1025)],
    "submitd": [("submission", 1587), ("submissions", 1465)],
    "deliverd": [("wakeup", None)],
    "imapd": [("imap", 1143), ("imaps", 1993)],
    "pop3d": [("pop3", 1110), ("pop3s", 1995)],
    "davd": [("https", 1443)],
    "acmed": [("http", 1080)],
}


def bind_tcp(port, host="127.0.0.1"):
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def wakeup_path(runtime_dir, program):
    return Path(runtime_dir) / f"{program}.wakeup"


def spawn(program, sockets, config_path, env=None, stdout=None, stderr=None,
          notify_socket=None, file_limit=None):
    """Fork and exec `program` with `sockets` [(name, socket)] handed over as systemd
    does; with `notify_socket` (a path), the child reports READY=1 there as it
    would to systemd; with `file_limit`, the child's RLIMIT_NOFILE (soft and hard)
    is set to it, as a unit's LimitNOFILE= does. Returns the child's pid."""
    argv = [PYTHON, "-m", f"mailsuite.{program}", "-c", os.fspath(config_path)]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.fspath(ROOT)
    child_env["LISTEN_FDS"] = str(len(sockets))
    child_env["LISTEN_FDNAMES"] = ":".join(name for name, _ in sockets)
    for key in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"):
        child_env.pop(key, None)
    if notify_socket is not None:
        child_env["NOTIFY_SOCKET"] = os.fspath(notify_socket)
    fds = [sock.fileno() for _, sock in sockets]
    # A signal that reached the child between fork and exec would run our own
    # handlers there and be lost to the daemon (a Ctrl-C or SIGTERM that never
    # stops it). So, as systemd does: block everything across the fork, reset the
    # child's handlers, then unblock: a pending signal then has its default effect.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid
    try:
        _reset_signals(mask)
        if stdout is not None:
            os.dup2(stdout, 1)
        if stderr is not None:
            os.dup2(stderr, 2)
        # Move the sockets out of the way first, then down to 3, 4, …
        high = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
        os.closerange(3 + len(high), 65536)
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (file_limit, file_limit))
        child_env["LISTEN_PID"] = str(os.getpid())
        os.chdir(ROOT)
        os.execve(PYTHON, argv, child_env)
    except BaseException as exc:
        os.write(2, f"mailsuite-dev: cannot start {program}: {exc}\n".encode())
    os._exit(127)


def _reset_signals(mask):
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def make_self_signed(cert_path, key_path, hostname):
    """A self-signed certificate for `hostname`, localhost and 127.0.0.1."""
    tls.make_self_signed(cert_path, key_path, [hostname, "localhost", "127.0.0.1"])


def dev_config(hostname="mail.example.test", state="state", runtime="run",
               extra=""):
    """The text of a development configuration file (paths relative to it)."""
    return f"""# mailsuite development instance (written by `make run`)
[server]
hostname = "{hostname}"
state_dir = "{state}"
runtime_dir = "{runtime}"
idle_exit = 0

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"

[imapd]
plaintext_loopback = true

[pop3d]
plaintext_loopback = true
{extra}"""


def dev_ports():
    """{socket name: port} of the development instance."""
    return {name: port for socks in PROGRAMS.values() for name, port in socks
            if port is not None}


def health_ports(ports):
    """The [health] section that points /health at `ports` ({name: port})."""
    listed = ", ".join(f'"{name}={port}"' for name, port in sorted(ports.items()))
    return f"\n[health]\nports = [{listed}]\n"


def generate_password():
    return secrets.token_urlsafe(12)


if __name__ == "__main__":
    sys.exit("use bin/mailsuite-dev")
