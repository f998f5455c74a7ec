"""mailctl tls self-signed: the certificate a new server starts with.

The key and the certificate go where the configuration's tls.key and tls.cert say.
Run as root (the package does so on first install), the files get the group of the
state dir, the group the daemons run as, and the key is mode 0640: readable by root
and that group only. Refusals, exit 1: a certificate or key that already exists
(--force replaces them; --if-missing makes that a silent success instead).
"""

import os
from pathlib import Path

import click

from ..core import tls as core_tls
from . import Failure, main, pass_instance


@main.group("tls")
def tls_group():
    """Manage the TLS certificate."""


@tls_group.command("self-signed")
@click.option("--hostname", "names", multiple=True, metavar="NAME",
              help="A name the certificate is for, repeated for more "
                   "(default: server.hostname).")
@click.option("--days", type=click.IntRange(1, 3650), default=825, show_default=True,
              help="Days the certificate is valid.")
@click.option("--force", is_flag=True,
              help="Replace an existing certificate and key.")
@click.option("--if-missing", is_flag=True,
              help="Do nothing, successfully, if the certificate or the key exists.")
@pass_instance
def self_signed(instance, names, days, force, if_missing):
    """Create a key and a self-signed certificate for server.hostname, at the
    paths of tls.key and tls.cert, and print the certificate's SHA-256
    fingerprint. Mail clients warn about such a certificate until they are told
    to trust it (compare the fingerprint); replace it with one signed by a
    certificate authority when you can."""
    if force and if_missing:
        raise click.UsageError("--force and --if-missing exclude each other")
    cfg = instance.config
    cert, key = Path(cfg.tls.cert), Path(cfg.tls.key)
    existing = [path for path in (cert, key) if path.exists()]
    if existing and not force:
        if if_missing:
            return
        raise Failure(f"{existing[0]} exists (--force replaces it)")
    names = list(names) or [cfg.server.hostname]
    try:
        digest = core_tls.make_self_signed(cert, key, names, days=days,
                                           gid=_daemon_group(cfg.state_dir))
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot write {key}: {exc}") from None
    click.echo(f"{cert}: SHA-256 fingerprint "
               + ":".join(f"{byte:02X}" for byte in digest))


def _daemon_group(state_dir):
    """The group the daemons run as (the state dir's), when root can hand files
    to it; None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return state_dir.stat().st_gid
    except OSError:
        return None
