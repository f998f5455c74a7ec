"""mailctl dkim generate|list|dns|rotate|remove, and mailctl dns: the DKIM keys of
the local domains (core.dkimkeys) and the DNS records a domain publishes
(core.dnsrecords).

Run as root, the keys get the group of the state dir, the group the daemons run
as, as the TLS key does (mailctl tls). Refusals, exit 1: a domain that is not
local, a key that exists (generate; rotate makes a new one), an unknown
selector, removing a selector that signs.
"""

import click

from ..core import dkimkeys, dnsrecords
from . import Failure, main, pass_instance
from .tls import _daemon_group

ALGORITHM_CHOICES = ("rsa", "ed25519", "both")


@main.group("dkim")
def dkim_group():
    """Manage the DKIM keys that sign mail sent from the local domains."""


def key_store(instance):
    """The instance's DKIM keys; new ones get the daemons' group."""
    cfg = instance.config
    return dkimkeys.KeyStore(cfg.state_dir, gid=_daemon_group(cfg.state_dir))


def _local(instance, domain):
    """The domain, lower case, if it is a local one."""
    try:
        name = dkimkeys.check_domain(domain)
    except dkimkeys.DKIMKeyError as exc:
        raise Failure(str(exc)) from None
    if name not in instance.accounts.domains():
        raise Failure(f"unknown domain: {domain}")
    return name


def _print_records(records):
    for record in records:
        click.echo(record if isinstance(record, str) else dnsrecords.zone_line(record))


def _print_new(store, domain, selectors):
    _print_records([r for r in dnsrecords.dkim_records(store, domain)
                    if r.name.split(".", 1)[0] in selectors])


@dkim_group.command("generate")
@click.argument("domain")
@click.option("--algorithm", type=click.Choice(ALGORITHM_CHOICES), default="both",
              show_default=True, help="The kind of key, or one of each.")
@pass_instance
def generate(instance, domain, algorithm):
    """Make the DKIM keys of DOMAIN, which sign its mail at once, and print the
    records to publish in DNS. Receivers can verify the signatures once the
    records are published. Refused when DOMAIN already has such a key: `mailctl
    dkim rotate` makes new ones."""
    domain = _local(instance, domain)
    store = key_store(instance)
    wanted = dkimkeys.ALGORITHMS if algorithm == "both" else (algorithm,)
    existing = store.active(domain)
    for name in wanted:
        if name in existing:
            raise Failure(f"{domain} has a DKIM {name} key ({existing[name]}): "
                          "mailctl dkim rotate makes a new one")
    made = [store.generate(domain, name, bits=instance.config.dkim.rsa_bits)
            for name in wanted]
    _print_new(store, domain, {key.selector for key in made})


@dkim_group.command("list")
@click.argument("domain", required=False)
@pass_instance
def list_(instance, domain):
    """Print the DKIM keys, of DOMAIN or of every domain, one a line: domain,
    selector, algorithm, and "signing" for the keys that sign or "verifying" for
    those kept, after a rotation, for the mail they signed."""
    if domain is not None:
        domain = _local(instance, domain)
    for key in key_store(instance).keys(domain):
        state = "signing" if key.active else "verifying"
        click.echo(f"{key.domain} {key.selector} {key.algorithm} {state}")


@dkim_group.command("dns")
@click.argument("domain")
@pass_instance
def dns_records(instance, domain):
    """Print the DKIM key records of DOMAIN in zone-file form, one a line: every
    selector, so that mail signed before a rotation still verifies. A long RSA
    key is split into strings of 255 octets within its one record."""
    domain = _local(instance, domain)
    records = dnsrecords.dkim_records(key_store(instance), domain)
    if not records:
        raise Failure(f"no DKIM keys for {domain}: mailctl dkim generate {domain}")
    _print_records(records)


@dkim_group.command("rotate")
@click.argument("domain")
@pass_instance
def rotate(instance, domain):
    """Make a new key under a new selector for each kind of key DOMAIN has, and
    sign with it from now on; print the new records, to publish at once. The old
    selectors keep verifying the mail they signed: keep their records published
    for a few days, then `mailctl dkim remove DOMAIN SELECTOR`."""
    domain = _local(instance, domain)
    store = key_store(instance)
    signing = store.active(domain)
    if not signing:
        raise Failure(f"no DKIM keys for {domain}: mailctl dkim generate {domain}")
    made = {store.generate(domain, name, bits=instance.config.dkim.rsa_bits).selector
            for name in dkimkeys.ALGORITHMS if name in signing}
    _print_new(store, domain, made)


@dkim_group.command("remove")
@click.argument("domain")
@click.argument("selector")
@pass_instance
def remove(instance, domain, selector):
    """Delete the key of SELECTOR, after a rotation: remove its DNS record too.
    Refused for a selector that signs."""
    key_store(instance).remove(_local(instance, domain), selector)


@main.command("dns")
@click.argument("domain")
@pass_instance
def dns_command(instance, domain):
    """Print every DNS record DOMAIN needs, in zone-file form: MX, SPF, DKIM,
    DMARC (p=none to start, reports to postmaster), MTA-STS and TLS-RPT, the
    SRV records of submission, IMAP and POP3 (RFC 6186), and the names mail
    clients look up to configure themselves (autoconfig, autodiscover)."""
    print_domain_records(instance, _local(instance, domain))


def print_domain_records(instance, domain):
    """Every record `domain` publishes, in zone-file form (also mailctl setup's)."""
    dkim = dnsrecords.dkim_records(key_store(instance), domain)
    _print_records(dnsrecords.domain_records(domain, instance.config.server.hostname,
                                             dkim))
