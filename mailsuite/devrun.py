"""bin/mailsuite-dev: the development instance under a small supervisor.

It prepares `.dev/` on the first run (configuration, self-signed certificate, state
and runtime folders, the domain example.test and the user demo@example.test with a
generated password) and reuses it afterwards: a password is generated only when the
user does not exist. Then it does what systemd does in production: binds the dev
ports on 127.0.0.1, hands them to every daemon that exists through mailsuite.dev.spawn
(LISTEN_FDS), and restarts a daemon that exits — after an idle exit when its socket
becomes readable, after a crash with a growing backoff. SIGINT or SIGTERM stops every
daemon with SIGTERM (SIGKILL after a grace period, or at a second Ctrl-C) and exits 0.
A new `.dev/` has acmed.enabled = false, so that acmed asks no CA at each start;
--acme-once (`make run ACME_ONCE=1`) runs one renewal (`mailctl cert renew`) once
the daemons are up, against the CA of acmed.directory.
A port already in use is one line on stderr and exit 1.
"""

import argparse
import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import dev
from .core import config, files, notify

HOSTNAME = "mail.example.test"
DOMAIN = "example.test"
DEMO = f"demo@{DOMAIN}"
STOP_GRACE = 15        # seconds a daemon gets to finish its sessions
BACKOFF_FIRST = 0.5    # seconds before the first restart after a crash
BACKOFF_MAX = 30
STABLE = 10            # a daemon that ran this long before crashing starts afresh
# A development host is not reachable on port 80 from a CA: acmed asks none unless
# told to (--acme-once, or enabled = true with a test CA as acmed.directory).
DEV_ACMED = "\n[acmed]\nenabled = false\n"


class Fatal(Exception):
    """The instance cannot start; the message is the one line printed."""


def say(message):
    # A closed terminal must not end the supervisor with its daemons still running.
    try:
        print(f"{time.strftime('%H:%M:%S')} mailsuite-dev: {message}",
              file=sys.stderr, flush=True)
    except OSError:
        pass


def module_exists(program):
    base = dev.ROOT / "mailsuite"
    return (base / f"{program}.py").is_file() or (base / program / "__init__.py").is_file()


def shown(path):
    """A path as the user would type it: relative to the current folder if inside."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) \
            else os.fspath(path)
    except ValueError:
        return os.fspath(path)


# .dev/: configuration, certificate, folders

def prepare(base):
    """Create what is missing under `base`; return the loaded configuration."""
    base.mkdir(parents=True, exist_ok=True)
    cfg_path = base / "mailsuite.toml"
    if not cfg_path.exists():
        text = dev.dev_config(hostname=HOSTNAME,
                              extra=DEV_ACMED + dev.health_ports(dev.dev_ports()))
        files.write_atomic(cfg_path, text.encode(), 0o644)
    try:
        cfg = config.load(cfg_path)
    except config.ConfigError as exc:
        raise Fatal(str(exc)) from None
    if not (Path(cfg.tls.cert).exists() and Path(cfg.tls.key).exists()):
        dev.make_self_signed(cfg.tls.cert, cfg.tls.key, cfg.server.hostname)
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    cfg.runtime_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def mailctl(cfg, *args, input=None):
    env = dict(os.environ, PYTHONPATH=os.fspath(dev.ROOT))
    argv = [dev.PYTHON, "-m", "mailsuite.mailctl", "-c", os.fspath(cfg.path), *args]
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=env,
                          timeout=120)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise Fatal(f"mailctl {' '.join(args)}: {why}")
    return proc.stdout


def provision(cfg, base):
    """Make sure example.test and demo@example.test exist; return the password file
    (None when the password is unknown) and whether the user was just created."""
    if not module_exists("mailctl"):
        say("mailctl does not exist yet: no domain or user created")
        return None, False
    password_file = base / "demo-password"
    if DOMAIN not in mailctl(cfg, "domain", "list").split():
        mailctl(cfg, "domain", "add", DOMAIN)
    if DEMO in mailctl(cfg, "user", "list").split():
        return (password_file if password_file.exists() else None), False
    password = dev.generate_password()
    mailctl(cfg, "user", "add", "--password-stdin", DEMO, input=password + "\n")
    files.write_atomic(password_file, (password + "\n").encode(), 0o600)
    return password_file, True


# sockets

def bind(cfg, programs, offset=0):
    """{program: [(fd name, socket)]} in dev.PROGRAMS order. TCP ports are bound
    first, so a second instance fails before it takes over a unix socket."""
    bound = {}
    try:
        for program in programs:
            for name, port in dev.PROGRAMS[program]:
                if port is not None:
                    bound[program, name] = _bind_tcp(program, name, port + offset)
        for program in programs:
            for name, port in dev.PROGRAMS[program]:
                if port is None:
                    path = dev.wakeup_path(cfg.runtime_dir, program)
                    bound[program, name] = notify.bind(path)
    except BaseException:
        for sock in bound.values():
            sock.close()
        raise
    return {program: [(name, bound[program, name]) for name, _ in dev.PROGRAMS[program]]
            for program in programs}


def _bind_tcp(program, name, port):
    try:
        return dev.bind_tcp(port)
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = ("; another program has that port: run with another offset, "
                    "e.g. `make run PORT_OFFSET=100`")
        raise Fatal(f"cannot listen on 127.0.0.1:{port} for {program} ({name}): "
                    f"{exc.strerror or exc}{hint}") from None


# supervision

class Daemon:
    def __init__(self, program, sockets):
        self.program = program
        self.sockets = sockets
        self.pid = None
        self.started = 0.0
        self.backoff = BACKOFF_FIRST
        self.restart_at = None      # after a crash
        self.status = None          # exit status of the last run (negative: signal)
        self.waiting = False        # after an idle exit: start on socket activity


class Supervisor:
    def __init__(self, cfg, daemons, acme_once=False):
        self.cfg = cfg
        self.daemons = daemons
        self.selector = selectors.DefaultSelector()
        self.stop_requests = 0
        self.acme_once = acme_once
        self.renewal = None         # the --acme-once `mailctl cert renew`

    def run(self):
        """Supervise until SIGINT or SIGTERM (install_signals() must come first)."""
        try:
            for daemon in self.daemons:
                if not self.stop_requests:
                    self.start(daemon)
            if self.acme_once and not self.stop_requests:
                self.renewal = start_renewal(self.cfg)
            while not self.stop_requests:
                self._step()
        finally:
            # Also after an unexpected error here: no daemon outlives its supervisor.
            self.shutdown()
        return 0

    def install_signals(self):
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wakeup = rfd
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        self.selector.register(rfd, selectors.EVENT_READ, None)

        def stop(signum, frame):
            self.stop_requests += 1
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # A Python-level handler makes SIGCHLD write to the wake-up pipe.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def start(self, daemon):
        daemon.restart_at = None
        if daemon.waiting:
            daemon.waiting = False
            for _, sock in daemon.sockets:
                self.selector.unregister(sock)
        daemon.pid = dev.spawn(daemon.program, daemon.sockets, self.cfg.path)
        daemon.started = time.monotonic()

    def _step(self):
        restarts = [d.restart_at for d in self.daemons if d.restart_at is not None]
        timeout = 1.0
        if restarts:
            timeout = max(0.0, min(timeout, min(restarts) - time.monotonic()))
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._drain_wakeup()
            elif key.data.waiting and not self.stop_requests:
                say(f"{key.data.program}: activity on its socket, starting it")
                self.start(key.data)
        if self.stop_requests:
            return
        for daemon in self._reap():
            self._after_exit(daemon)
        if self.renewal is not None and self.renewal.poll() is not None:
            say(f"acme: `mailctl cert renew` exited {self.renewal.returncode}")
            self.renewal = None
        now = time.monotonic()
        for daemon in self.daemons:
            if daemon.restart_at is not None and now >= daemon.restart_at:
                self.start(daemon)

    def _drain_wakeup(self):
        try:
            while os.read(self.wakeup, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self):
        """Daemons that exited since the last call; their status is kept on them."""
        exited = []
        for daemon in self.daemons:
            if daemon.pid is None:
                continue
            try:
                pid, status = os.waitpid(daemon.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = daemon.pid, 0
            if pid:
                daemon.pid = None
                daemon.status = os.waitstatus_to_exitcode(status)
                exited.append(daemon)
        return exited

    def _after_exit(self, daemon):
        now = time.monotonic()
        if daemon.status == 0:
            say(f"{daemon.program} exited (idle); it starts again on its next connection")
            daemon.waiting = True
            for _, sock in daemon.sockets:
                self.selector.register(sock, selectors.EVENT_READ, daemon)
            return
        if now - daemon.started >= STABLE:
            daemon.backoff = BACKOFF_FIRST
        say(f"{daemon.program} {describe(daemon.status)}; restarting in "
            f"{daemon.backoff:.1f} s")
        daemon.restart_at = now + daemon.backoff
        daemon.backoff = min(daemon.backoff * 2, BACKOFF_MAX)

    def shutdown(self):
        say("stopping")
        running = [d for d in self.daemons if d.pid is not None]
        for daemon in running:
            _signal(daemon.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        handled = self.stop_requests
        while any(d.pid is not None for d in self.daemons):
            if time.monotonic() >= deadline or self.stop_requests > handled:
                for daemon in self.daemons:
                    if daemon.pid is not None:
                        say(f"{daemon.program} did not stop: killing it")
                        _signal(daemon.pid, signal.SIGKILL)
                handled = float("inf")
            self.selector.select(0.1)
            self._drain_wakeup()
            for daemon in self._reap():
                if daemon.status not in (0, -signal.SIGTERM, -signal.SIGINT,
                                         -signal.SIGKILL):
                    say(f"{daemon.program} {describe(daemon.status)}")
        for daemon in self.daemons:
            for _, sock in daemon.sockets:
                sock.close()
        say("stopped")


def start_renewal(cfg):
    """`mailctl cert renew` in the background; its lines go to the terminal."""
    say("acme: renewing the certificate once (--acme-once)")
    env = dict(os.environ, PYTHONPATH=os.fspath(dev.ROOT))
    return subprocess.Popen([dev.PYTHON, "-m", "mailsuite.mailctl", "-c",
                             os.fspath(cfg.path), "cert", "renew"], env=env,
                            stdin=subprocess.DEVNULL)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def describe(status):
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    if status == config.EX_CONFIG:
        return f"exited {status} (configuration or socket error; see above)"
    return f"exited with status {status}"


# the front

def banner(cfg, sockets, password_file, missing):
    ports = {name: sock.getsockname()[1] for socks in sockets.values()
             for name, sock in socks if isinstance(sock.getsockname(), tuple)}
    cfg_shown = shown(cfg.path)
    lines = ["", f"mailsuite development instance ({cfg_shown})"]
    rows = [("smtp", "SMTP (MX)", ""),
            ("submission", "Submission", "STARTTLS, then AUTH as a user"),
            ("submissions", "Submissions", "implicit TLS, then AUTH as a user"),
            ("imap", "IMAP", "STARTTLS; plaintext login allowed on loopback"),
            ("imaps", "IMAPS", f"self-signed certificate {shown(cfg.tls.cert)}"),
            ("pop3", "POP3", "STLS; plaintext login allowed on loopback"),
            ("pop3s", "POP3S", "the same certificate"),
            ("https", "CalDAV", "and CardDAV: https://127.0.0.1:1443/, the mail login"),
            ("http", "HTTP", "acmed: ACME challenges, else a redirect to HTTPS")]
    for name, label, note in rows:
        if name in ports:
            lines.append(f"  {label:<11} 127.0.0.1:{ports[name]:<6} {note}".rstrip())
    if password_file:
        lines.append(f"  {'user':<11} {DEMO}, password in {shown(password_file)}")
    else:
        lines.append(f"  {'user':<11} {DEMO} (password unknown: set one with "
                     f"bin/mailctl -c {cfg_shown} user passwd {DEMO})")
    lines.append(f"  {'add a user':<11} bin/mailctl -c {cfg_shown} user add bob@{DOMAIN}")
    if missing:
        lines.append(f"  {'not yet':<11} {', '.join(missing)} (no module yet)")
    lines += ["Ctrl-C stops everything.", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="mailsuite-dev", description="Run the mailsuite development instance.")
    parser.add_argument("--dir", type=Path, default=dev.ROOT / ".dev",
                        help="instance folder (default: .dev in the source tree)")
    parser.add_argument("--port-offset", type=int, default=0, metavar="N",
                        help="add N to every dev port (to run a second instance)")
    parser.add_argument("--acme-once", action="store_true",
                        help="renew the certificate once (mailctl cert renew), "
                             "through acmed.directory's CA")
    args = parser.parse_args(argv)
    try:
        cfg = prepare(args.dir)
        password_file, created = provision(cfg, args.dir)
        if created:
            password = password_file.read_text().strip()
            say(f"created {DEMO} with password {password} "
                f"(saved in {shown(password_file)})")
        programs = [p for p in dev.PROGRAMS if module_exists(p)]
        missing = [p for p in dev.PROGRAMS if p not in programs]
        if not programs:
            raise Fatal("no daemon exists yet: nothing to run")
        sockets = bind(cfg, programs, args.port_offset)
    except Fatal as exc:
        print(f"mailsuite-dev: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    daemons = [Daemon(program, socks) for program, socks in sockets.items()]
    supervisor = Supervisor(cfg, daemons, args.acme_once)
    # From here on Ctrl-C is a request to stop, even while the banner prints.
    supervisor.install_signals()
    banner(cfg, sockets, password_file, missing)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
