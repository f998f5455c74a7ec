"""The checks of `mailctl doctor` that look at this machine: the state directory,
its free space, the certificate, the queue, outbound port 25 and the clock. The
listening sockets are in mailctl.socketchecks, DNS in mailctl.dnschecks.

    Finding(verdict, detail, advice)   # made by ok(detail), warn(..), fail(..)
    state_dir(path);  free_space(path);  certificate(cert, key, hostname)
    queue(state_dir, now=None);  smtp_probe(host, addresses, port, timeout);  clock()
    systemd_running() -> bool;  machine_addresses() -> {str}

Each check returns a Finding and never raises for what it finds: a missing or
unreadable file is a verdict, not an error.
"""

import datetime
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import lmdb

OK, WARN, FAIL = "ok", "warn", "fail"
DAEMON_USER = "mailsuite"       # systemd/mailsuite.sysusers
MIB = 1 << 20
SPACE_FAIL, SPACE_WARN = 100 * MIB, 1024 * MIB
CERT_WARN_DAYS = 14             # certbot renews 30 days ahead: this is late
QUEUE_WARN_AGE = 86400
CA_ADVICE = ("let acmed get one from Let's Encrypt (port 80 open, the names in "
             "DNS; see `mailctl cert status`), or set tls.cert and tls.key to a "
             "certificate for the hostname from a certificate authority")
AS_ROOT = "run `mailctl doctor` as root"
COMMAND_TIMEOUT = 10            # systemctl, timedatectl
# Where a datagram to the internet would leave from (RFC 5737, RFC 3849 test
# addresses: nothing is sent, the kernel only picks the route).
ROUTE_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))


class Finding(NamedTuple):
    verdict: str        # OK, WARN or FAIL
    detail: str         # what was found, one line
    advice: str = ""    # what to do about it; empty when all is well


def ok(detail):
    return Finding(OK, detail)


def warn(detail, advice):
    return Finding(WARN, detail, advice)


def fail(detail, advice):
    return Finding(FAIL, detail, advice)


def systemd_running():
    # sd_booted(3): systemd runs the machine when this directory exists.
    return Path("/run/systemd/system").is_dir()


def run_command(*argv):
    """The command's standard output; OSError when it cannot run or fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise OSError(f"{argv[0]}: no answer within {COMMAND_TIMEOUT} s") from None
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def state_dir(path):
    """The state dir belongs to the daemons' user, and so does every LMDB
    environment in it: a file root made would keep the daemons out of it."""
    fix = f"chown -R {DAEMON_USER}:{DAEMON_USER} {path}"
    try:
        status = path.stat()
    except OSError as exc:
        return fail(f"{path}: {exc.strerror}", "run `mailctl setup`, or create it "
                    f"with `install -d -o {DAEMON_USER} -g {DAEMON_USER} -m 0750 {path}`")
    owner = _user_name(status.st_uid)
    try:
        expected = pwd.getpwnam(DAEMON_USER).pw_uid
    except KeyError:
        expected = None
    if expected is not None and status.st_uid != expected:
        return fail(f"{path} belongs to {owner}, not {DAEMON_USER}", fix)
    try:
        for item, uid in _environment_files(path):
            if uid != status.st_uid:
                return fail(f"{item} belongs to {_user_name(uid)}, not {owner} as "
                            f"{path} does: the daemons cannot open it", fix)
    except OSError as exc:
        return warn(f"cannot look into {path}: {exc.strerror}", AS_ROOT)
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o007:
        return warn(f"{path} (mode {mode:04o}) is open to every user of the machine",
                    f"chmod o-rwx {path}")
    who = owner if expected is not None else (
        f"{owner} (no {DAEMON_USER} user here: a development instance)")
    return ok(f"{path} belongs to {who}, mode {mode:04o}")


def _environment_files(state):
    for name in ("accounts", "spool"):
        for item in (state / name, state / name / "data.mdb", state / name / "lock.mdb"):
            try:
                yield item, item.stat().st_uid
            except FileNotFoundError:
                continue


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def free_space(path):
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return fail(f"{path}: {exc.strerror}", "create the state directory first")
    detail = (f"{usage.free // MIB} MiB free of {usage.total // MIB} MiB "
              f"({100 * usage.free // max(usage.total, 1)}%) under {path}")
    advice = "free some space or grow the file system: mail is refused when it is full"
    if usage.free < SPACE_FAIL:
        return fail(detail, advice)
    if usage.free < SPACE_WARN or usage.free * 20 < usage.total:
        return warn(detail, advice)
    return ok(detail)


def queue(state, now=None):
    from ..core.spool import Spool
    try:
        if not (state / "spool").is_dir():
            return ok("the queue is empty (not created yet)")
        with Spool(state) as spool:
            entries, quarantined = spool.entries(), spool.quarantined()
    except (OSError, lmdb.Error) as exc:
        return warn(f"cannot read the queue: {exc}", AS_ROOT)
    advice = "see why with `mailctl queue list` and `mailctl queue show QID`"
    if quarantined:
        return warn(f"{len(quarantined)} unreadable queue records are quarantined",
                    "report it as a bug, with `mailctl queue stats`")
    if not entries:
        return ok("the queue is empty")
    oldest = min(entries, key=lambda entry: entry.arrival)
    age = (now or time.time()) - oldest.arrival
    detail = (f"{len(entries)} messages queued, the oldest ({oldest.qid}) "
              f"{_duration(age)} old")
    return warn(detail, advice) if age > QUEUE_WARN_AGE else ok(detail)


def _duration(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def smtp_probe(host, addresses, port, timeout):
    """Can this machine open an SMTP connection to the world? Many networks
    (home lines, cloud providers) block outbound port 25."""
    advice = ("use a relay host (your provider's smarthost) for outbound mail, "
              f"or ask the provider to open port {port}")
    errors = []
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=timeout).close()
            return ok(f"connected to {host} ({address}) port {port}")
        except socket.timeout:
            errors.append(f"{address}: no answer within {timeout:g} s")
        except OSError as exc:
            errors.append(f"{address}: {exc.strerror or exc}")
    if not addresses:
        errors.append("no address")
    return warn(f"cannot connect to {host} port {port} ({'; '.join(errors)}): the "
                "network may block outbound SMTP", advice)


def clock():
    if not systemd_running():
        return warn("unknown: systemd is not running here to say whether the clock "
                    "is synchronized", "make sure an NTP client keeps the time")
    try:
        synced = run_command("timedatectl", "show", "-p", "NTPSynchronized",
                             "--value").strip()
    except OSError as exc:
        return warn(f"unknown: {exc}", "make sure an NTP client keeps the time")
    if synced != "yes":
        return warn("the clock is not synchronized (NTPSynchronized=no)",
                    "turn NTP on: `timedatectl set-ntp true`")
    return ok("the clock is synchronized (NTP)")


def machine_addresses():
    """The addresses this machine sends mail from: its default routes' source
    addresses, one per address family that has a route."""
    found = set()
    for family, destination in ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((destination, 25))
                found.add(sock.getsockname()[0])
        except OSError:
            continue
    return found


def certificate(cert_path, key_path, hostname, now=None):
    """The certificate covers the hostname, is in its validity period, is the
    key's, and is signed by a certificate authority."""
    from cryptography import x509
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except OSError as exc:
        return fail(f"{cert_path}: {exc.strerror}",
                    CA_ADVICE + ", or make a self-signed one: `mailctl tls self-signed`")
    except ValueError as exc:
        return fail(f"{cert_path}: not a PEM certificate: {exc}", CA_ADVICE)
    names = _cert_names(cert)
    days = (_utc(cert.not_valid_after) - now).days
    if _utc(cert.not_valid_before) > now:
        return fail(f"{cert_path} is not valid before {cert.not_valid_before:%Y-%m-%d}",
                    "check the clock, or " + CA_ADVICE)
    if days < 0:
        return fail(f"{cert_path} expired on {cert.not_valid_after:%Y-%m-%d}",
                    "renew it (`mailctl cert renew`); the daemons reload it at once")
    if not any(_name_covers(name, hostname) for name in names):
        return fail(f"{cert_path} is for {', '.join(names) or 'no name'}, not "
                    f"{hostname}", CA_ADVICE)
    key_problem = _key_problem(cert, cert_path, key_path)
    if key_problem:
        return key_problem
    detail = f"{cert_path} is valid for {hostname}, {days} days left"
    if cert.issuer == cert.subject:
        return warn(f"{detail}, self-signed",
                    "mail clients warn about a self-signed certificate: " + CA_ADVICE)
    if days < CERT_WARN_DAYS:
        return warn(detail, "renew it (`mailctl cert renew`); the daemons reload it at once")
    return ok(detail)


def _utc(moment):
    # cryptography gives naive datetimes in UTC.
    return moment.replace(tzinfo=datetime.timezone.utc)


def _cert_names(cert):
    from cryptography import x509
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [name.lower() for name in extension.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        # RFC 6125 6.4.4: the common name only when there is no subjectAltName.
        return [a.value.lower() for a in
                cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def _name_covers(name, hostname):
    # RFC 6125 6.4.3: a wildcard stands for the whole left-most label only.
    if name.startswith("*."):
        return hostname.partition(".")[2] == name[2:] and "." in hostname
    return name == hostname


def _key_problem(cert, cert_path, key_path):
    """A finding when the key cannot be read or is not the certificate's."""
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
    except OSError as exc:
        return warn(f"{key_path}: {exc.strerror}: the key was not checked", AS_ROOT)
    except (ValueError, TypeError) as exc:
        return fail(f"{key_path}: not a PEM private key without password: {exc}",
                    "point tls.key at the certificate's private key")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return fail(f"{key_path} is not the key of {cert_path}",
                    "point tls.key at the certificate's private key")
    return None
