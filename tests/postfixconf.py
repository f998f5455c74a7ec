"""What the private Postfix instances that tests and benchmarks run (the remote MX,
the relay host, the bench's servers) have in common: a folder of their own, the
main.cf settings that keep them there, their commands, and their master.cf (the
instance's own smtpd listeners, then Postfix's internal services, none chrooted;
a service that an instance never uses is only never started).

    make_dirs(base, *more)              # base/etc, queue, data and `more`
    instance_settings(base, hostname) -> dict    # main.cf: queue, data, log...
    postconf(base, settings, error)     # write main.cf settings (postconf -e)
    command(base, *argv, error=...)     # a Postfix command; `error` if it fails
    master_cf(listeners) -> str         # listeners: master.cf lines of smtpd services
"""

import os
import shutil
import subprocess
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

INTERNAL_SERVICES = """\
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def master_cf(listeners):
    return listeners + INTERNAL_SERVICES


def loopback_smtpd(port):
    """The one listener of a bench's Postfix: smtpd on 127.0.0.1:`port`."""
    return f"127.0.0.1:{port} inet n - n - - smtpd\n"


def make_dirs(base, *more):
    """The instance's folders under `base`: etc/ (its main.cf and master.cf),
    queue/ and data/ (Postfix's, owned as it wants), and `more`."""
    for sub in ("etc", "queue", "data", *more):
        (base / sub).mkdir(parents=True)
    base.chmod(0o755)
    shutil.chown(base / "data", "postfix")


def instance_settings(base, hostname):
    """The main.cf settings of every private instance: its queue, data and log
    in `base`, IPv4, no local domains, no aliases."""
    return {"compatibility_level": "3.6", "queue_directory": base / "queue",
            "data_directory": base / "data", "mail_owner": "postfix",
            "setgid_group": "postdrop", "inet_protocols": "ipv4",
            "myhostname": hostname, "mydestination": "", "alias_maps": "",
            "alias_database": "", "biff": "no", "maillog_file": base / "postfix.log",
            "maillog_file_prefixes": base}


def postconf(base, settings, error):
    """Write `settings` into the main.cf of the instance in `base`."""
    command(base, POSTCONF, "-c", base / "etc", "-e",
            *(f"{key}={value}" for key, value in settings.items()), error=error)


def command(base, *argv, error):
    """Run a Postfix command for the instance in `base`; raises `error` with
    why it failed. Postfix commands write their errors to stderr only on a
    terminal, else to the log, whose end is quoted then."""
    proc = subprocess.run([os.fspath(a) for a in argv], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        log = base / "postfix.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        raise error(f"{Path(argv[0]).name} failed: "
                    f"{proc.stderr.strip() or tail.strip() or proc.returncode}")
