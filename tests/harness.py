"""A throwaway mailsuite instance for tests: config, certificate, state, daemons.

    inst = Instance(tmp_path)          # writes mailsuite.toml, a self-signed cert
    inst.mailctl("domain", "add", "example.test")
    inst.start("smtpd", "deliverd", "imapd")   # ephemeral ports on 127.0.0.1
    inst.port("smtp"), inst.port("imaps")
    inst.stop()

Daemons are started through mailsuite.dev.spawn, the same socket hand-off that
systemd does, so the tests exercise the production code path.
"""

import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from mailsuite import dev
from mailsuite.core import accounts, notify

ROOT = dev.ROOT


class Instance:
    def __init__(self, base, hostname="mail.example.test", extra_config=""):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.config = self.base / "mailsuite.toml"
        self.config.write_text(dev.dev_config(hostname=hostname, extra=extra_config))
        self.state = self.base / "state"
        self.runtime = self.base / "run"
        self.hostname = hostname
        dev.make_self_signed(self.base / "tls/cert.pem", self.base / "tls/key.pem",
                             hostname)
        self.sockets = {}     # program -> [(name, socket)]
        self.ports = {}       # fd name -> port
        self.pids = {}        # program -> pid
        self.logs = {}        # program -> log path

    # administration

    def mailctl(self, *args, input=None, check=True):
        """Run mailctl against this instance; returns CompletedProcess (text)."""
        env = dict(os.environ, PYTHONPATH=os.fspath(ROOT))
        proc = subprocess.run(
            [dev.PYTHON, "-m", "mailsuite.mailctl", "-c", os.fspath(self.config), *args],
            input=input, capture_output=True, text=True, env=env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"mailctl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def add_user(self, address, password="secret-password"):
        """The user, and its domain if new, written as `mailctl domain add` and
        `mailctl user add` write them, but in this process: a test's users cost
        no start of mailctl (its own tests run it)."""
        domain = address.split("@", 1)[1]
        with accounts.Accounts(self.state) as users:
            if not users.is_local_domain(domain):
                users.add_domain(domain)
            users.add_user(address, password)
        return password

    # daemons

    def _bind(self, program):
        if program in self.sockets:
            return self.sockets[program]
        socks = []
        for name, port in dev.PROGRAMS[program]:
            if port is None:
                sock = notify.bind(dev.wakeup_path(self.runtime, program))
            else:
                sock = dev.bind_tcp(0)
                self.ports[name] = sock.getsockname()[1]
            socks.append((name, sock))
        self.sockets[program] = socks
        return socks

    def start(self, *programs, file_limit=None):
        """Start the programs and wait until each has sent READY=1 (sd_notify), as
        systemd would for a Type=notify service; `file_limit` sets their
        RLIMIT_NOFILE, as a unit's LimitNOFILE= does."""
        for program in programs:
            socks = self._bind(program)
            log_path = self.base / f"{program}.log"
            self.logs[program] = log_path
            notify_path = self.runtime / f"{program}.sd-notify"
            notifier = notify.bind(notify_path)
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                self.pids[program] = dev.spawn(program, socks, self.config,
                                               stdout=fd, stderr=fd,
                                               notify_socket=notify_path,
                                               file_limit=file_limit)
                self._wait_ready(program, notifier)
            finally:
                os.close(fd)
                notifier.close()

    def _wait_ready(self, program, notifier, timeout=20):
        notifier.settimeout(0.1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if b"READY=1" in notifier.recv(4096):
                    return
            except socket.timeout:
                pass
            self.check_alive(program)
        raise AssertionError(f"{program} did not report READY=1 within {timeout} s: "
                             f"{self.log(program)[-2000:]}")

    def check_alive(self, program):
        pid = self.pids[program]
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            del self.pids[program]
            raise AssertionError(
                f"{program} exited ({status}): {self.log(program)[-2000:]}")

    def kill(self, program, sig=signal.SIGKILL):
        pid = self.pids.pop(program)
        os.kill(pid, sig)
        os.waitpid(pid, 0)

    def stop(self, *programs):
        for program in programs or list(self.pids):
            pid = self.pids.pop(program, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def close(self):
        self.stop()
        for socks in self.sockets.values():
            for _, sock in socks:
                sock.close()
        self.sockets.clear()

    def port(self, name):
        return self.ports[name]

    def log(self, program):
        path = self.logs.get(program)
        return path.read_text(errors="replace") if path and path.exists() else ""

    # clients

    def client_tls_context(self):
        ctx = ssl.create_default_context(cafile=os.fspath(self.base / "tls/cert.pem"))
        ctx.check_hostname = False
        return ctx

    def maildir(self, address):
        local, domain = address.lower().split("@", 1)
        return self.state / "mail" / domain / local

    def inbox_files(self, address="demo@example.test"):
        """The message files in the user's INBOX (new/ and cur/)."""
        root = self.maildir(address)
        return [p for sub in ("new", "cur") if (root / sub).exists()
                for p in (root / sub).iterdir()]

    def add_config(self, text):
        """Append TOML to the configuration (before the daemons start)."""
        self.config.write_text(self.config.read_text() + "\n" + text)


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Poll until predicate() is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def connect(port, host="127.0.0.1", timeout=10):
    return socket.create_connection((host, port), timeout=timeout)
