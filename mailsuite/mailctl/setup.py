"""mailctl setup: the first command after `apt install`.

It takes the server from nothing to receiving mail, one step after another, and
says what each step did: the hostname in the configuration file, the first domain,
its first user (the administrator), the postmaster@, abuse@ and hostmaster@ aliases
of that user, the TLS certificate, the domain's DKIM keys (RSA and Ed25519), and
`mailsuite.target` enabled. It ends with the DNS records to publish (as `mailctl
dns` prints them) and the settings a mail client needs.

Every step looks before it acts: what exists is kept and reported as kept, so that
running setup again changes nothing. On a terminal it asks for what the options
leave out and for a confirmation (--yes skips it); elsewhere it takes the options
and the defaults (hostname: the configuration's or the machine's; domain: the
hostname without its first label; administrator: postmaster's owner must be given).

Failure policy: a refusal (an invalid name, a configuration file that cannot be
read or written) stops setup with exit 1 before the step that needed it; the steps
before it stay done, and running setup again continues from there.
"""

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import click

from ..core import config as core_config
from ..core import dkimkeys
from ..core.accounts import normalize, normalize_domain, split
from . import Failure, main, pass_instance
from . import dkim as dkim_commands
from .user import check_password_options, new_password, password_options
from .tls import self_signed

ROLE_ALIASES = ("postmaster", "abuse", "hostmaster")     # RFC 2142


@main.command()
@click.option("--hostname", metavar="NAME",
              help="This server's name in DNS (default: the configuration's, else "
                   "the machine's).")
@click.option("--domain", metavar="DOMAIN",
              help="The first mail domain (default: the hostname without its first "
                   "label).")
@click.option("--admin", metavar="ADDRESS",
              help="The administrator's address, a user of the domain that also "
                   "receives postmaster@, abuse@ and hostmaster@.")
@password_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_instance
def setup(instance, hostname, domain, admin, password_stdin, generate, yes):
    """Set up the server: hostname, first domain and administrator, role
    aliases, certificate, services. Running it again changes nothing that
    exists."""
    check_password_options(password_stdin, generate)
    plan = _plan(instance, hostname, domain, admin)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Set up {plan.domain} on {plan.hostname} with administrator "
                      f"{plan.admin}?", default=True, abort=True)
    _step_hostname(instance, plan.hostname)
    _step_domain(instance, plan.domain)
    _step_admin(instance, plan.admin, password_stdin, generate)
    _step_aliases(instance, plan.domain, plan.admin)
    _step_certificate(instance)
    _step_dkim(instance, plan.domain)
    _step_services()
    _print_dns_records(instance, plan.domain)
    _print_client_settings(plan)


class Plan(NamedTuple):
    hostname: str
    domain: str
    admin: str


def _plan(instance, hostname, domain, admin):
    """What setup will make, from the options, the terminal and the defaults."""
    interactive = sys.stdin.isatty()
    current = _configured_hostname(instance.path) or core_config.machine_hostname()
    hostname = hostname or (click.prompt("Hostname of this server", default=current)
                            if interactive else current)
    hostname = normalize_domain(hostname.strip())
    default_domain = hostname.partition(".")[2] or hostname
    domain = domain or (click.prompt("First mail domain", default=default_domain)
                        if interactive else default_domain)
    domain = normalize_domain(domain.strip())
    if admin is None:
        if not interactive:
            raise click.UsageError("--admin ADDRESS is needed without a terminal")
        admin = click.prompt("Administrator's address", default=f"admin@{domain}")
    admin = normalize(admin.strip())
    if split(admin)[1] != domain:
        raise Failure(f"the administrator {admin} must be an address of {domain}")
    return Plan(hostname, domain, admin)


def _done(what):
    click.echo(f"{what}: done")


def _kept(what, how="exists, kept"):
    click.echo(f"{what}: {how}")


# the steps


def _step_hostname(instance, hostname):
    path = Path(instance.path)
    what = f"server.hostname in {path}"
    configured = _configured_hostname(path)
    if configured == hostname:
        return _kept(what, f"is {hostname}, kept")
    if configured is not None:
        return _kept(what, f"is {configured}, kept (edit the file to change it)")
    text = path.read_text() if path.exists() else core_config.sample()
    _write_config(path, _with_hostname(text, hostname))
    instance._config = None             # read again with the new name
    _done(f"{what} set to {hostname}")


def _configured_hostname(path):
    """server.hostname as set in the file, or None (missing file or key)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Failure(f"cannot read {path}: {exc}") from None
    value = data.get("server", {}).get("hostname")
    return value if isinstance(value, str) else None


def _with_hostname(text, hostname):
    """The file's text with `hostname` set in [server]: in place of the sample's
    commented-out line if there is one, else right under the section's header,
    else in a new [server] section at the top."""
    line = f'hostname = "{hostname}"'
    lines = text.splitlines()
    for index, old in enumerate(lines):
        if old.replace(" ", "").startswith("#hostname="):
            lines[index] = line
            return "\n".join(lines) + "\n"
    for index, old in enumerate(lines):
        if old.strip() == "[server]":
            lines.insert(index + 1, line)
            return "\n".join(lines) + "\n"
    return f"[server]\n{line}\n\n{text}"


def _write_config(path, text):
    """Write the file only if the result is a valid configuration."""
    try:
        core_config.from_dict(tomllib.loads(text), str(path), text)
    except (core_config.ConfigError, tomllib.TOMLDecodeError) as exc:
        raise Failure(f"not changing {path}: {exc}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".new")
        temporary.write_text(text)
        if path.exists():
            _same_owner_and_mode(path, temporary)
        temporary.replace(path)
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc}") from None


def _same_owner_and_mode(original, copy):
    """The package's file is root:mailsuite 0640, so that the daemons can read it:
    the new file must keep that group, not take root's."""
    status = original.stat()
    if os.geteuid() == 0:
        os.chown(copy, status.st_uid, status.st_gid)
    os.chmod(copy, stat.S_IMODE(status.st_mode))


def _step_domain(instance, domain):
    if instance.accounts.is_local_domain(domain):
        return _kept(f"domain {domain}")
    instance.accounts.add_domain(domain)
    _done(f"domain {domain}")


def _step_admin(instance, admin, password_stdin, generate):
    if instance.accounts.get_user(admin) is not None:
        return _kept(f"user {admin}")
    password, generated = new_password(admin, password_stdin, generate)
    instance.accounts.add_user(admin, password)
    _done(f"user {admin}")
    if generated:
        click.echo(f"password of {admin}:")
        click.echo(password)


def _step_aliases(instance, domain, admin):
    accounts = instance.accounts
    existing = dict(accounts.aliases(domain))
    for role in ROLE_ALIASES:
        source = f"{role}@{domain}"
        if source in existing or accounts.get_user(source) is not None:
            _kept(f"alias {source}")
            continue
        accounts.add_alias(source, [admin])
        _done(f"alias {source} -> {admin}")


def _step_certificate(instance):
    cfg = instance.config
    what = f"TLS certificate {cfg.tls.cert}"
    if Path(cfg.tls.cert).exists() and Path(cfg.tls.key).exists():
        return _kept(what)
    click.get_current_context().invoke(self_signed, names=(), days=825,
                                       force=False, if_missing=True)
    _done(f"{what} (self-signed; replace it with one a certificate authority signed)")


def _step_dkim(instance, domain):
    store = dkim_commands.key_store(instance)
    what = f"DKIM keys of {domain}"
    if store.active(domain):
        return _kept(what)
    for algorithm in dkimkeys.ALGORITHMS:
        store.generate(domain, algorithm, bits=instance.config.dkim.rsa_bits)
    _done(what)


def _step_services():
    what = "mailsuite.target"
    # systemd runs the machine only when this directory exists (sd_booted(3)).
    if not Path("/run/systemd/system").is_dir():
        return _kept(what, "not enabled: systemd is not running here")
    proc = subprocess.run(["systemctl", "enable", "--now", "mailsuite.target"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"systemctl enable --now mailsuite.target: "
                      f"{proc.stderr.strip()}")
    _done(f"{what} enabled and started")


def _print_dns_records(instance, domain):
    click.echo("")
    click.echo(f"DNS records to publish for {domain} (`mailctl dns {domain}`), with "
               f"the address records of {instance.config.server.hostname} and its "
               "reverse (PTR) record at your provider:")
    dkim_commands.print_domain_records(instance, domain)


def _print_client_settings(plan):
    click.echo("")
    click.echo("Mail client settings:")
    click.echo(f"  user name: the full address, e.g. {plan.admin}")
    click.echo(f"  incoming:  IMAP {plan.hostname} port 993, TLS "
               f"(or port 143, STARTTLS)")
    click.echo(f"             POP3 {plan.hostname} port 995, TLS (or port 110, STARTTLS)")
    click.echo(f"  outgoing:  SMTP {plan.hostname} port 465, TLS "
               f"(or port 587, STARTTLS), password authentication")
