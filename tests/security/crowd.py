"""Clients for the resource tests: crowds of connections from many loopback
addresses, and the normal clients that must still be served beside them.

Every connection of a crowd comes from 127.1.x.y (Linux answers for all of
127.0.0.0/8), never from 127.0.0.1, which is the normal client's address; so a
crowd meets the per-address limit only when the test wants it to.
"""

import contextlib
import imaplib
import resource
import smtplib
import socket
import time

import argon2

from checks import PASSWORD, USER
from harness import ROOT
from mailsuite.core import accounts

# The soft file limit systemd gives a service whose unit sets no LimitNOFILE=.
SYSTEMD_DEFAULT_FILE_LIMIT = 1024
MESSAGE = b"From: alice@example.org\r\nSubject: hello\r\n\r\nHello.\r\n"


def unit_file_limit(program):
    """The soft file limit the packaged unit gives mail-`program`, at most the
    hard limit of this process: in a container, root may be unable to raise
    it (no CAP_SYS_RESOURCE)."""
    limit = SYSTEMD_DEFAULT_FILE_LIMIT
    unit = ROOT / "systemd" / f"mail-{program}.service"
    for line in unit.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "LimitNOFILE":
            limit = int(value.split(":")[0])
    return min(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


@contextlib.contextmanager
def own_file_limit(need):
    """Let this process hold `need` descriptors for a while (the tests run as
    root, so the hard limit may rise too)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    if old[0] < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, old[1])))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def source_address(n, per_address):
    """The n-th crowd member's address; `per_address` members share each one."""
    group = n // per_address
    return f"127.1.{group // 250}.{group % 250 + 1}"


def connect_from(source, port, timeout=10):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def first_line(sock, deadline):
    """The server's first line (its greeting, or its refusal); b"" if it closed
    without one. Raises TimeoutError when `deadline` (monotonic) passes."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no line from the server")
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_to_end(sock, timeout=10):
    """Everything the server says until it closes the connection; raises
    TimeoutError if it does not close within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def hang_up(sock, goodbye):
    """Send the protocol's goodbye; returns what the server says until it closes."""
    sock.sendall(goodbye)
    return read_to_end(sock)


def set_keys(instance, section, **keys):
    """Set keys of one section of the instance's configuration (before start)."""
    text = instance.config.read_text()
    lines = "".join(f"{key} = {value}\n" for key, value in keys.items())
    header = f"[{section}]\n"
    if header in text:
        text = text.replace(header, header + lines, 1)
    else:
        text += "\n" + header + lines
    instance.config.write_text(text)


class Crowd:
    """Connections held open, closed when the block ends."""

    def __init__(self):
        self.socks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self, port, count, per_address, timeout=20):
        """Open `count` connections within `timeout` seconds; no line is read."""
        deadline = time.monotonic() + timeout
        for n in range(count):
            remaining = max(0.01, deadline - time.monotonic())
            self.socks.append(connect_from(source_address(n, per_address), port,
                                           timeout=remaining))

    def greetings(self, timeout=20):
        """The first line of every connection, read within `timeout` seconds
        (b"" for a connection that had none by then)."""
        deadline = time.monotonic() + timeout
        lines = []
        for sock in self.socks:
            try:
                lines.append(first_line(sock, deadline))
            except TimeoutError:
                lines.append(b"")
        return lines

    def close(self):
        for sock in self.socks:
            sock.close()
        self.socks.clear()


def add_user_with_cheap_hash(instance, monkeypatch):
    """demo@example.test, with a password hash that is cheap to check. The real
    one costs a few tenths of a second of CPU, more than a client is given in a
    test of responsiveness; the server checks a password with the parameters
    stored in its hash, so the dialog then measures the server."""
    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1,
                                  type=argon2.Type.ID)
    monkeypatch.setattr(accounts, "_HASHER", cheap)
    with accounts.Accounts(instance.state) as store:
        store.add_domain(USER.partition("@")[2])
        store.add_user(USER, PASSWORD)


def smtp_transaction(port):
    """A whole SMTP transaction from 127.0.0.1: greeting, EHLO, MAIL, RCPT, DATA,
    QUIT."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("alice@example.org", [USER], MESSAGE)


def imap_dialog(port):
    """Greeting, LOGIN, SELECT and LOGOUT from 127.0.0.1."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        imap.login(USER, PASSWORD)
        typ, _ = imap.select("INBOX")
        assert typ == "OK"
    finally:
        imap.logout()
