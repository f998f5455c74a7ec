"""The two servers `make bench` compares: our suite (smtpd, deliverd, imapd from a
test Instance) and a private Postfix in a temporary folder (its own configuration,
queue and data directories, a free loopback port, delivery to a Maildir as
`nobody`; it never touches the system's Postfix). Each is started, reports its
Maildir, and is stopped and removed afterwards.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

from harness import Instance
from postfixconf import (POSTCONF, POSTFIX, command, instance_settings,
                         loopback_smtpd, make_dirs, master_cf)

ROOT = Path(__file__).resolve().parents[2]
RCPT = "demo@example.test"
LATENCY_RCPT = "latency@example.test"


class Unavailable(Exception):
    """A server cannot be benchmarked here; the message says why."""


def maildir_count(path):
    total = 0
    for sub in ("new", "cur"):
        try:
            total += len(os.listdir(path / sub))
        except FileNotFoundError:
            pass
    return total


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"nothing listens on 127.0.0.1:{port}")


# the two servers

class Ours:
    name = "mailsuite"

    def __init__(self, base):
        missing = [p for p in ("mailctl", "smtpd", "deliverd") if not _module(p)]
        if missing:
            raise Unavailable(f"not written yet: {', '.join(missing)}")
        self.inst = Instance(base)
        try:
            self.password = self.inst.add_user(RCPT)
            self.inst.add_user(LATENCY_RCPT, self.password)
            self.programs = [p for p in ("smtpd", "deliverd", "imapd") if _module(p)]
            self.inst.start(*self.programs)
        except BaseException as exc:
            self.inst.close()
            if isinstance(exc, AssertionError):
                raise Unavailable(str(exc).splitlines()[0]) from None
            raise
        self.port = self.inst.port("smtp")
        wait_listening(self.port)

    def maildir(self, address=RCPT):
        return self.inst.maildir(address)

    def stop(self):
        self.inst.close()


class Postfix:
    name = "postfix"

    def __init__(self, base):
        if os.geteuid() != 0:
            raise Unavailable("a private Postfix instance needs root")
        for tool in (POSTFIX, POSTCONF):
            if not os.access(tool, os.X_OK):
                raise Unavailable(f"{tool} missing (make deps installs postfix)")
        self.base = base
        self.etc = base / "etc"
        self.port = free_port()
        self.started = False
        self._configure()
        self._run(POSTFIX, "-c", self.etc, "start")
        self.started = True
        wait_listening(self.port)

    def _configure(self):
        base = self.base
        make_dirs(base, "mail")
        os.chown(base / "mail", 65534, 65534)       # nobody:nogroup
        (self.etc / "master.cf").write_text(master_cf(loopback_smtpd(self.port)))
        (self.etc / "vmailbox").write_text(
            "".join(f"{a} {a.split('@')[1]}/{a.split('@')[0]}/\n"
                    for a in (RCPT, LATENCY_RCPT)))
        (self.etc / "main.cf").write_text("")
        settings = instance_settings(base, "postfix.bench.test") | {
            "inet_interfaces": "127.0.0.1",
            "mydomain": "bench.test",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_base": base / "mail",
            "virtual_mailbox_maps": f"texthash:{self.etc / 'vmailbox'}",
            "virtual_uid_maps": "static:65534",
            "virtual_gid_maps": "static:65534",
        }
        self._run(POSTCONF, "-c", self.etc, "-e",
                  *(f"{key}={value}" for key, value in settings.items()))

    def _run(self, *argv):
        command(self.base, *argv, error=Unavailable)

    def maildir(self, address=RCPT):
        local, domain = address.split("@")
        return self.base / "mail" / domain / local

    def stop(self):
        if not self.started:
            return
        self.started = False
        pidfile = self.base / "queue/pid/master.pid"
        pid = int(pidfile.read_text().strip()) if pidfile.exists() else None
        subprocess.run([POSTFIX, "-c", os.fspath(self.etc), "stop"],
                       capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def _module(program):
    base = ROOT / "mailsuite"
    return (base / f"{program}.py").is_file() or (base / program / "__init__.py").is_file()


def start_servers(base, which, classes=(Ours, Postfix), args=()):
    """{name: started server} for the classes named in `which`, each in its own
    folder under `base`, and a note for each that could not start."""
    servers, notes = {}, []
    for cls in classes:
        if cls.name not in which:
            continue
        try:
            servers[cls.name] = cls(base / cls.name, *args)
        except Unavailable as exc:
            notes.append(f"{cls.name}: not measured: {exc}")
    return servers, notes


def postfix_version():
    try:
        out = subprocess.run([POSTCONF, "-d", "-h", "mail_version"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        return f"Postfix {out}"
    except (OSError, subprocess.SubprocessError):
        return "Postfix ?"


SMTP_SOURCE = "/usr/sbin/smtp-source"
SOURCE_TIMEOUT = 600        # seconds one smtp-source run may take


def smtp_source(argv):
    """Run smtp-source with `argv` (after the program); the seconds it took, or
    the reason it failed as a str."""
    start = time.monotonic()
    try:
        proc = subprocess.run([SMTP_SOURCE, *argv], capture_output=True, text=True,
                              timeout=SOURCE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"smtp-source took over {SOURCE_TIMEOUT} s"
    if proc.returncode != 0:
        return "smtp-source: " + (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return time.monotonic() - start
