"""What an admin and a mail client do with the package in a booted container,
as plain functions on a Container: install, enable, add a user, send, read."""

import json
import re
import time
from pathlib import Path

PKG_DIR = "/mnt/pkg"       # the packages, read-only
TESTS_DIR = "/mnt/tests"   # this folder, read-only
CLIENT = Path(__file__).resolve().parent / "client.py"
SOCKETS = ["mail-smtpd.socket", "mail-imapd.socket", "mail-imapd-tls.socket",
           "mail-pop3d.socket", "mail-pop3d-tls.socket", "mail-deliverd.socket",
           "mail-submitd.socket", "mail-submitd-tls.socket", "mail-davd.socket",
           "mail-acmed.socket"]
# What mailsuite(7) enables one by one; mailsuite.target wants the same.
UNITS = SOCKETS + ["mail-deliverd.timer", "mail-acmed.timer"]
SERVICES = ["mail-smtpd.service", "mail-deliverd.service", "mail-imapd.service",
            "mail-pop3d.service", "mail-submitd.service", "mail-davd.service",
            "mail-acmed.service"]
# The listeners each service must have been handed by systemd.
LISTENERS = {
    "mail-smtpd.service": ["tcp:25"],
    "mail-imapd.service": ["tcp:143", "tcp:993"],
    "mail-pop3d.service": ["tcp:110", "tcp:995"],
    "mail-submitd.service": ["tcp:465", "tcp:587"],
    "mail-davd.service": ["tcp:443"],
    "mail-deliverd.service": ["unix:/run/mailsuite/deliverd.wakeup"],
    "mail-acmed.service": ["tcp:80"],
}
DOMAIN = "example.test"
USER = "demo@example.test"
PASSWORD = "container test password"
CERT = "/etc/mailsuite/tls/cert.pem"


def apt_install(box, deb_inside):
    """`apt-get install` a local .deb (its dependencies are all in the rootfs, so
    nothing is fetched); returns apt's output."""
    proc = box.run("apt-get", "install", "-y", deb_inside,
                   timeout=180)
    return proc.stdout + proc.stderr


def installed_version(box):
    return box.run("dpkg-query", "-W", "-f=${Status} ${Version}", "mailsuite").stdout


def unit_state(box, verb, units):
    """{unit: output of `systemctl VERB unit`} (is-enabled, is-active)."""
    proc = box.run("systemctl", verb, *units, check=False)
    return dict(zip(units, proc.stdout.split()))


def add_user(box, address=USER, password=PASSWORD):
    domain = address.split("@", 1)[1]
    box.run("mailctl", "domain", "add", domain)
    box.run("mailctl", "user", "add", "--password-stdin", address, input=password + "\n")


def send(box, subject, body, recipient=USER):
    """Send a message to port 25 from the container's network; returns its queue id."""
    reply = box.python_in_netns(CLIENT, "send", "sender@client.test", recipient,
                                subject, body).strip()
    match = re.fullmatch(r"250 .*queued as (\S+)", reply)
    assert match, f"unexpected reply to DATA: {reply!r}"
    return match.group(1)


def submit(box, subject, body, recipient=USER):
    """Submit a message on port 587 (STARTTLS, AUTH as USER) from the container's
    network; returns its queue id."""
    reply = box.python_in_netns(CLIENT, "submit", USER, PASSWORD, recipient, subject,
                                body, str(box.path(CERT)), box.hostname).strip()
    match = re.fullmatch(r"250 .*queued as (\S+)", reply)
    assert match, f"unexpected reply to DATA: {reply!r}"
    return match.group(1)


def read(box, port, subject, user=USER, password=PASSWORD):
    """Log in on port 143 (STARTTLS) or 993 (TLS), checking the server's certificate,
    and return {"greeting", "capabilities", "body"} of the message with `subject`."""
    out = box.python_in_netns(CLIENT, "read", str(port), user, password, subject,
                              str(box.path(CERT)), box.hostname)
    return json.loads(out)


def pop(box, port, subject, user=USER, password=PASSWORD):
    """The same as read() over POP3, on port 110 (STLS) or 995 (TLS)."""
    out = box.python_in_netns(CLIENT, "pop", str(port), user, password, subject,
                              str(box.path(CERT)), box.hostname)
    return json.loads(out)


def dav(box, user=USER, password=PASSWORD):
    """PROPFIND of the user's principal on port 443, certificate checked:
    {"status", "collections"}."""
    out = box.python_in_netns(CLIENT, "dav", user, password, str(box.path(CERT)),
                              box.hostname)
    return json.loads(out)


def web(box, path):
    """GET `path` on port 80 (acmed) from the container's network, for the
    container's name; returns {"status", "location"}."""
    return json.loads(box.python_in_netns(CLIENT, "http", box.hostname, path))


def probe(box, *units):
    """The main processes of the services: pid, uid, capabilities, and the
    listening sockets they share with systemd (tests/container/probe.py)."""
    out = box.run("python3", f"{TESTS_DIR}/probe.py", *units).stdout
    return json.loads(out)


def journal_has(box, unit, text, timeout=10):
    """Wait until `journalctl -u unit` shows text; returns the journal."""
    deadline = time.monotonic() + timeout
    while True:
        log = box.run("journalctl", "--no-pager", "-u", unit).stdout
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def mailsuite_ids(box):
    """(uid, gid) of the user mailsuite in the container."""
    entry = box.run("getent", "passwd", "mailsuite").stdout.split(":")
    return int(entry[2]), int(entry[3])


def failed_units(box):
    return box.run("systemctl", "--failed", "--no-legend", "--plain").stdout.strip()
