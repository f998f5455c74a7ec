"""The two IMAP servers the IMAP benchmark compares, each on its own copy of the
same Maildirs: our imapd (a test Instance: its own state directory, users made
with mailctl, plain IMAP on a loopback port with plaintext login) and a private
Dovecot (Debian's /usr/sbin/dovecot in the foreground with a configuration of its
own in a temporary folder: passwd-file users, no SSL, a free loopback port, its
own base_dir and state; it never reads /etc/dovecot nor touches a system Dovecot).

Both check the same password hash: the Dovecot users' passwd-file holds an argon2id
hash made by our accounts module, which libsodium verifies, so a LOGIN costs both
the same key derivation.

Besides starting and stopping, a server can make a mailbox cold (remove its index,
so the next SELECT builds it from the Maildir) and measure the memory a session
costs it (`memory_mark` before the session, `memory_used` during or at its end;
KiB).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from mailsuite.core import accounts
from outbound_peers import Peer
from servers import Unavailable, free_port, wait_listening

from harness import Instance

DOVECOT = "/usr/sbin/dovecot"
DOVECOT_MAIL_UID = 65534       # nobody: Dovecot refuses mail access as root


class Mailbox(NamedTuple):
    address: str
    password: str
    source: Path                # the Maildir copied into each server's store


def copy_maildir(source, target):
    """Copy a Maildir, file mtimes (the internal dates) included."""
    shutil.copytree(source, target, dirs_exist_ok=True)


def proc_status(pid, field):
    """A KiB figure (VmRSS, VmHWM) from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Unavailable(f"no {field} for process {pid}")


class Ours:
    name = "mailsuite"

    def __init__(self, base, mailboxes):
        self.inst = Instance(base)
        try:
            for box in mailboxes:
                self.inst.add_user(box.address, box.password)
                copy_maildir(box.source, self.maildir(box.address))
            self.inst.start("imapd")
        except BaseException:
            self.inst.close()
            raise
        self.port = self.inst.port("imap")

    def maildir(self, address):
        return self.inst.maildir(address)

    def make_cold(self, address):
        """Remove the user's index, with imapd stopped meanwhile: no process may
        hold the old index open (a store may keep it open past a session). The
        listening sockets stay bound, so the port does not change."""
        self.inst.stop("imapd")
        shutil.rmtree(self.maildir(address) / "mailsuite.index", ignore_errors=True)
        try:
            self.inst.start("imapd")
        except AssertionError as exc:
            raise Unavailable(str(exc).splitlines()[0]) from None

    def session_over(self):
        """Our sessions let go of the mailbox before the connection closes."""

    def memory_mark(self):
        """The imapd process's size now; its peak is reset to it (proc(5),
        clear_refs 5), so that the peak read later is the session's."""
        pid = self.inst.pids["imapd"]
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
        return proc_status(pid, "VmRSS")

    def memory_used(self, mark, reset=False):
        """What the process's peak since the mark (or the last reset) adds to its
        size at the mark; `reset` starts a new peak from here."""
        pid = self.inst.pids["imapd"]
        used = proc_status(pid, "VmHWM") - mark
        if reset:
            with open(f"/proc/{pid}/clear_refs", "w") as clear:
                clear.write("5")
        return used

    def log(self):
        return self.inst.log("imapd")

    def stop(self):
        self.inst.close()


class Dovecot(Peer):
    name = "dovecot"
    LOG = "dovecot.log"
    session_process = "imap"    # the name of the process that serves a session

    def __init__(self, base, mailboxes):
        if os.geteuid() != 0:
            raise Unavailable("a private Dovecot instance needs root")
        if not os.access(DOVECOT, os.X_OK):
            raise Unavailable(f"{DOVECOT} missing (make bench installs dovecot-imapd)")
        self.base = Path(base)
        self.port = free_port()
        self.proc = None
        self._configure(mailboxes)
        with open(self.base / "dovecot.out", "wb") as out:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.base / "dovecot.conf"],
                                         stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.port)
        except Unavailable:
            self.stop()
            raise Unavailable(f"dovecot did not start: {self.log()[-500:]}") from None

    def _configure(self, mailboxes):
        base = self.base
        for sub in ("run", "state", "mail"):
            (base / sub).mkdir(parents=True)
        for path in (base, base.parent):
            path.chmod(0o755)           # the login and auth processes run as others
        uid = gid = DOVECOT_MAIL_UID
        passwd = "".join(f"{box.address}:{{ARGON2ID}}{_hash(box.password)}:{uid}:{gid}"
                         f"::{self.maildir(box.address)}::\n" for box in mailboxes)
        (base / "passwd").write_text(passwd)
        (base / "dovecot.conf").write_text(CONFIG.format(base=base, port=self.port,
                                                         uid=uid))
        for box in mailboxes:
            copy_maildir(box.source, self.maildir(box.address))
        for path in (base / "mail").rglob("*"):
            os.lchown(path, uid, gid)
        os.chown(base / "mail", uid, gid)

    def maildir(self, address):
        local, domain = address.split("@")
        return self.base / "mail" / domain / local

    def make_cold(self, address):
        """Dovecot's index and cache go, and with them its UID list: our index
        holds our UIDs, so both start from the bare Maildir."""
        root = self.maildir(address)
        for path in root.iterdir():
            if path.name.startswith(("dovecot.index", "dovecot-uidlist")):
                path.unlink()

    def imap_processes(self):
        """The pids of the master's session processes (`imap`, or `pop3` for
        the POP3 bench): one per session."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/comm") as comm:
                    name = comm.read().strip()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and name == self.session_process:
                found.append(int(entry))
        return found

    def session_over(self, timeout=30):
        """Wait until every session's imap process has exited: Dovecot writes its
        index as a session ends, and the next measure must not overlap that."""
        deadline = time.monotonic() + timeout
        while self.imap_processes() and time.monotonic() < deadline:
            time.sleep(0.01)

    def memory_mark(self):
        return set(self.imap_processes())

    def memory_used(self, mark, reset=False):
        """The peak of the imap process that serves the session: all of it. The
        process starts after LOGIN (the password is checked by the auth
        process), so `reset` has nothing to do."""
        new = [pid for pid in self.imap_processes() if pid not in mark]
        if len(new) != 1:
            raise Unavailable(f"expected one new imap process, found {len(new)}")
        return proc_status(new[0], "VmHWM")



def _hash(password):
    # The hash our accounts store, so that both servers derive the same key.
    return accounts._hash_password(password)


def dovecot_version():
    try:
        out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.split()
        return f"Dovecot {out[0]}" if out else "Dovecot ?"
    except (OSError, subprocess.SubprocessError):
        return "Dovecot ?"


# Dovecot's defaults otherwise (Debian's), as an installed server runs them:
# fsync "optimized", mmap'ed indexes, one imap process per session.
CONFIG = """\
# A private Dovecot for mailsuite's IMAP benchmark.
instance_name = mailsuite-bench-{port}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
mail_location = maildir:~
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
