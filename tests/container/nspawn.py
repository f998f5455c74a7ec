"""A booted Debian container for the package tests: systemd-nspawn around a
read-only rootfs, entered with nsenter.

    with Container(rootfs, binds={hostdir: "/mnt/pkg"}) as box:
        box.run("systemctl", "enable", "--now", "mail-smtpd.socket")
        box.python_in_netns(CLIENT, "send", ...)   # host python, container network

The container boots systemd as PID 1 (`-b`) with `--volatile=overlay`, so every
write lands in a tmpfs and the cached rootfs stays as built; `--private-network`
gives it a loopback of its own, so its port 25 is nobody else's. It is not
registered with machined (`--register=no`) and stays in the caller's cgroup
(`--keep-unit`): nothing here needs a systemd on the host. Commands run inside
through `nsenter -a` into the namespaces of its PID 1, the "leader".

Every wait is bounded; a container that does not come up raises with the tail of
its console and journal, and stop() always ends nspawn (SIGTERM, which powers the
container off, then SIGKILL).
"""

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

# The environment of commands run inside: nothing from the host's.
INSIDE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "TERM": "dumb",
    "DEBIAN_FRONTEND": "noninteractive",
}
HOST_PYTHON = "/usr/bin/python3"
PR_SET_PDEATHSIG = 1


class ContainerError(AssertionError):
    """The container failed to boot or a command inside it failed."""


class Container:
    def __init__(self, rootfs, workdir, binds=None, hostname="mail.example.test"):
        self.rootfs = Path(rootfs)
        self.workdir = Path(workdir)
        self.binds = dict(binds or {})        # host path -> path inside, read-only
        self.hostname = hostname
        self.proc = None
        self.leader = None
        self.console = self.workdir / "console.log"
        self.boot_seconds = None

    def __enter__(self):
        self.boot()
        return self

    def __exit__(self, *exc):
        self.stop()

    # boot and stop

    def boot(self, timeout=60):
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
                   "--volatile=overlay", "--private-network", "--console=pipe",
                   f"--directory={self.rootfs}", "--machine=mailsuite-test",
                   f"--hostname={self.hostname}"]
        command += [f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()]
        started = time.monotonic()
        with open(self.console, "wb") as console:
            # A session of its own, so that a Ctrl-C meant for pytest does not
            # reach nspawn before stop() does; and a SIGTERM (a clean poweroff)
            # if the test process dies without calling stop().
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                         stdout=console, stderr=subprocess.STDOUT,
                                         start_new_session=True,
                                         preexec_fn=_terminate_with_parent)
        try:
            self.leader = self._find_leader(started + timeout)
            self._wait_running(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - started

    def _find_leader(self, deadline):
        """The container's PID 1 as the host sees it: the child of nspawn that has
        executed systemd."""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited {self.proc.returncode}: "
                                     f"{self.console_tail()}")
            for pid in children(self.proc.pid):
                if comm(pid) == "systemd":
                    return pid
            time.sleep(0.02)
        raise ContainerError(f"no systemd in the container: {self.console_tail()}")

    def _wait_running(self, deadline):
        """Wait until the container's systemd has finished booting."""
        state = ""
        while time.monotonic() < deadline:
            proc = self.run("systemctl", "is-system-running", "--wait", check=False,
                            timeout=max(1, deadline - time.monotonic()))
            state = proc.stdout.strip()
            if state == "running":
                return
            if state == "degraded":
                failed = self.run("systemctl", "--failed", "--no-legend",
                                  check=False).stdout
                raise ContainerError(f"the container booted degraded:\n{failed}"
                                     f"{self.journal()}")
            time.sleep(0.05)        # the bus is not up yet
        raise ContainerError(f"the container's systemd is {state!r}, not running: "
                             f"{self.console_tail()}")

    def running(self):
        return self.leader is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """Power the container off (nspawn turns SIGTERM into a clean shutdown of
        the container), kill it if that takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    # commands

    def command(self, *argv, netns_only=False):
        """argv prefixed so that it runs inside: in all of the container's
        namespaces (its files, processes and network), or in its network only."""
        scope = ["-n"] if netns_only else ["-a"]
        return ["nsenter", "-t", str(self.leader), *scope, "--", *argv]

    def run(self, *argv, input=None, check=True, timeout=120):
        """Run a command inside; returns the CompletedProcess (text)."""
        proc = subprocess.run(self.command(*argv), input=input, capture_output=True,
                              text=True, env=INSIDE_ENV, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ContainerError(f"in the container: {' '.join(argv)} exited "
                                 f"{proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def python_in_netns(self, script, *args, timeout=120):
        """Run the host's Python on `script` in the container's network namespace:
        a client that reaches the container's loopback, with the host's files."""
        proc = subprocess.run(
            self.command(HOST_PYTHON, os.fspath(script), *args, netns_only=True),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise ContainerError(f"client {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc.stdout

    def path(self, inside):
        """A path inside the container, as the host can read it."""
        return Path(f"/proc/{self.leader}/root") / Path(inside).relative_to("/")

    # diagnostics

    def console_tail(self, size=4000):
        try:
            return self.console.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def journal(self, *args, lines=80):
        proc = self.run("journalctl", "--no-pager", "-o", "short-monotonic",
                        "-n", str(lines), *args, check=False, timeout=30)
        return proc.stdout + proc.stderr


def _terminate_with_parent():
    """In the child before exec: ask the kernel for SIGTERM when the parent dies
    (prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def children(pid):
    """The pids whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The fields after the command name, which is in parentheses and may hold
        # spaces: state, ppid, ...
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
