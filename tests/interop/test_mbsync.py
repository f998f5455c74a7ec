"""Interop with mbsync (Debian's isync): an account kept in step with a local Maildir.

mbsync is the strictest of the common synchronizers: it keeps the UIDs it has seen
in a state file and trusts UIDVALIDITY, APPENDUID (UIDPLUS, RFC 4315), FLAGS and
EXPUNGE to mean exactly what the RFCs say, so a server that renumbers, loses a flag
or expunges the wrong message shows up as a duplicate, a lost change or a lost
message. One channel syncs every folder both ways over IMAPS (Sync All, Create
Both, Expunge Both); the test changes each side in turn, runs mbsync, and checks
both sides: pull, push (a new message and a new folder), flags added and removed on
each side, deletions on each side, and a last run that changes nothing, which
mbsync's own progress counters say (they are printed only to a terminal, so mbsync
runs on a pseudo-terminal).
"""

import email
import imaplib
import os
import re
import select
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from mailsuite.core import maildir

MBSYNC = shutil.which("mbsync") or "/usr/bin/mbsync"
ADDRESS = "sync@example.test"
PASSWORD = "mbsync-test-password"
RUN_TIMEOUT = 120       # seconds one mbsync run may take


class Account(NamedTuple):
    """Where mbsync finds the server: an IMAPS port whose certificate is `cert`."""
    port: int
    cert: Path
    address: str = ADDRESS
    password: str = PASSWORD


class Counters(NamedTuple):
    """mbsync's final progress counters: messages added, with flags changed and
    trashed, on the far (server) side and on the near (local) side."""
    far: tuple
    near: tuple


# mbsync's progress line (mbsync(1), CONSOLE OUTPUT), e.g.
#   C: 1/1  B: 2/2  F: +0/0 *1/1 #0/0  N: +3/3 *0/0 #0/0
_PROGRESS = re.compile(r"F: \+(\d+)/\d+ \*(\d+)/\d+ #(\d+)/\d+\s+"
                       r"N: \+(\d+)/\d+ \*(\d+)/\d+ #(\d+)/\d+")


def message(subject, body="A line of text.\r\n"):
    return (f"From: Alice <alice@example.org>\r\nTo: <{ADDRESS}>\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@example.org>\r\nDate: Mon, 6 May 2024 10:00:00 +0200\r\n\r\n"
            f"{body}").encode()


# the two sides

def imap(account):
    client = imaplib.IMAP4_SSL("127.0.0.1", account.port, timeout=30,
                               ssl_context=_tls_context(account.cert))
    client.login(account.address, account.password)
    return client


def _tls_context(cert):
    ctx = ssl.create_default_context(cafile=os.fspath(cert))
    ctx.check_hostname = False
    return ctx


def server_folder(account, folder):
    """{subject: (flags, message bytes)} of a folder on the server."""
    client = imap(account)
    try:
        typ, data = client.select(folder, readonly=True)
        assert typ == "OK", data
        if int(data[0]) == 0:
            return {}
        typ, data = client.fetch("1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
    finally:
        client.logout()
    found = {}
    for item in data:
        if isinstance(item, tuple):
            flags = imaplib.ParseFlags(item[0])
            flags = {f.decode() for f in flags} - {"\\Recent"}
            found[_subject(item[1])] = (flags, item[1])
    return found


def server_folders(account):
    client = imap(account)
    try:
        typ, data = client.list()
        assert typ == "OK", data
    finally:
        client.logout()
    return {line.decode().rsplit(" ", 1)[1].strip('"') for line in data}


def local_folder(path):
    """{subject: (Maildir flag letters, file path)} of a local Maildir folder."""
    found = {}
    for sub in ("new", "cur"):
        for file in (path / sub).iterdir():
            info = file.name.partition(":2,")[2]
            found[_subject(file.read_bytes())] = (info, file)
    return found


def text_of(data):
    """A message as mbsync carries it: a Maildir keeps its lines with LF, IMAP with
    CRLF, and mbsync marks what it copies with an X-TUID header, its own."""
    return re.sub(rb"^X-TUID: .*\n", b"", data.replace(b"\r\n", b"\n"), flags=re.M)


def _subject(data):
    return email.message_from_bytes(data)["Subject"]


def set_local_flags(folder, subject, letters):
    """Change a local message's flags as a mail reader does: rename it in cur/."""
    _, file = local_folder(folder)[subject]
    base = file.name.partition(":2,")[0]
    file.rename(folder / "cur" / f"{base}:2,{''.join(sorted(letters))}")


def add_local_message(folder, data):
    """A new message in a local Maildir folder, as a mail client saves one."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}.P{os.getpid()}.localhost"
    (folder / "tmp" / name).write_bytes(data)
    (folder / "tmp" / name).rename(folder / "new" / name)


# mbsync

def write_config(tmp_path, account):
    local = tmp_path / "local"
    local.mkdir()
    config = tmp_path / "mbsyncrc"
    config.write_text(f"""\
IMAPAccount server
Host 127.0.0.1
Port {account.port}
User {account.address}
Pass {account.password}
SSLType IMAPS
SystemCertificates no
CertificateFile {account.cert}

IMAPStore server
Account server

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel both
Far :server:
Near :local:
Patterns *
Sync All
Create Both
Expunge Both
SyncState *
""")
    return config, local


def mbsync(config):
    """Run `mbsync -a` on a pseudo-terminal; its final progress counters."""
    main, side = os.openpty()
    proc = subprocess.Popen([MBSYNC, "-c", os.fspath(config), "-a"],
                            stdin=subprocess.DEVNULL, stdout=side,
                            stderr=subprocess.STDOUT)
    os.close(side)
    try:
        output = _read_until_closed(main)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    progress = _PROGRESS.findall(text)
    assert progress, text[-3000:]
    counts = [int(n) for n in progress[-1]]
    return Counters(tuple(counts[:3]), tuple(counts[3:]))


def _read_until_closed(fd):
    output = bytearray()
    deadline = time.monotonic() + RUN_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:         # EIO: mbsync exited and closed the terminal
            return output
        if not chunk:
            return output
        output += chunk
    raise AssertionError(f"mbsync still running after {RUN_TIMEOUT} s: "
                         f"{output.decode(errors='replace')[-3000:]}")


# the test

@pytest.fixture
def account(instance):
    instance.add_user(ADDRESS, PASSWORD)
    instance.start("imapd")
    seed(instance)
    yield Account(instance.port("imaps"), instance.base / "tls/cert.pem")
    log = instance.log("imapd")
    assert "Traceback" not in log, log[-4000:]


def seed(instance):
    """The server's mail before the first sync, delivered as deliverd does: three
    messages in INBOX, the first flagged, and one in a folder of its own."""
    with maildir.Store(instance.maildir(ADDRESS)) as store:
        for n, flags in ((1, ["\\Flagged"]), (2, []), (3, [])):
            store.deliver(maildir.unique_base(), message(f"server {n}"), flags=flags)
        store.create_folder("Projects")
        store.deliver(maildir.unique_base(), message("project plan"), folder="Projects")


def test_mbsync_syncs_both_ways(account, tmp_path):
    config, local = write_config(tmp_path, account)
    pull(account, config, local)
    push(account, config, local)
    flags_both_ways(account, config, local)
    deletions_both_ways(account, config, local)

    # A second run finds both sides in step: mbsync changes nothing.
    before = (_local_names(local), server_folder(account, "INBOX"))
    assert mbsync(config) == Counters(far=(0, 0, 0), near=(0, 0, 0))
    assert (_local_names(local), server_folder(account, "INBOX")) == before


def pull(account, config, local):
    """Every message arrives with its text and its flags, folders included."""
    server = server_folder(account, "INBOX")
    assert mbsync(config) == Counters(far=(0, 0, 0), near=(4, 0, 0))
    pulled = {s: (letters, text_of(file.read_bytes()))
              for s, (letters, file) in local_folder(local / "INBOX").items()}
    assert pulled == {s: ("F" if "\\Flagged" in flags else "", text_of(data))
                      for s, (flags, data) in server.items()}
    assert set(local_folder(local / "Projects")) == {"project plan"}


def push(account, config, local):
    """A message saved locally, and a new local folder with one, reach the server:
    APPEND, and CREATE before it."""
    add_local_message(local / "INBOX", message("written offline"))
    add_local_message(local / "Notes", message("a note"))
    assert mbsync(config) == Counters(far=(2, 0, 0), near=(0, 0, 0))
    pushed = server_folder(account, "INBOX")
    assert text_of(pushed["written offline"][1]) == text_of(message("written offline"))
    assert "Notes" in server_folders(account)
    assert set(server_folder(account, "Notes")) == {"a note"}


def flags_both_ways(account, config, local):
    """Read and answered on the server; flagged and unflagged locally."""
    inbox = local / "INBOX"
    server_store(account, "server 2", "(\\Seen \\Answered)")
    set_local_flags(inbox, "server 1", "")
    set_local_flags(inbox, "server 3", "F")
    assert mbsync(config) == Counters(far=(0, 2, 0), near=(0, 1, 0))
    assert local_folder(inbox)["server 2"][0] == "RS"
    flags = {s: f for s, (f, _) in server_folder(account, "INBOX").items()}
    assert flags["server 1"] == set() and flags["server 3"] == {"\\Flagged"}


def deletions_both_ways(account, config, local):
    """Expunged on the server, removed from the local Maildir: mbsync marks each
    side's deletion \\Deleted on the other side, then expunges (Expunge Both)."""
    inbox = local / "INBOX"
    server_store(account, "server 2", "(\\Deleted)", expunge=True)
    local_folder(inbox)["written offline"][1].unlink()
    assert mbsync(config) == Counters(far=(0, 1, 0), near=(0, 1, 0))
    assert set(local_folder(inbox)) == {"server 1", "server 3"}
    assert set(server_folder(account, "INBOX")) == {"server 1", "server 3"}


def server_store(account, subject, flags, expunge=False):
    """Add flags to the INBOX message with that subject, as another client would."""
    client = imap(account)
    try:
        client.select("INBOX")
        uid = _uid_of(client, subject)
        assert client.uid("STORE", uid, "+FLAGS", flags)[0] == "OK"
        if expunge:
            assert client.expunge()[0] == "OK"
    finally:
        client.logout()


def _uid_of(client, subject):
    typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    uids = [re.search(rb"UID (\d+)", item[0]).group(1).decode() for item in data
            if isinstance(item, tuple) and _subject(item[1]) == subject]
    assert len(uids) == 1, data
    return uids[0]


def _local_names(local):
    return sorted(p.relative_to(local).as_posix() for p in local.rglob("*")
                  if p.parent.name in ("new", "cur"))
