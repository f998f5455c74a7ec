"""mailctl domain add|list|remove: the domains this server takes mail for.

Refusals (invalid name, duplicate, unknown, a domain that still has users or
aliases) come from core.accounts as AccountError and exit 1.
"""

import click

from ..core.accounts import AccountError, normalize
from . import main, pass_instance


@main.group()
def domain():
    """Manage the local domains."""


@domain.command("add")
@click.argument("name")
@click.option("--postmaster", metavar="ADDRESS",
              help="Make postmaster@NAME an alias of ADDRESS.")
@pass_instance
def add(instance, name, postmaster):
    """Take mail for the domain NAME.

    Mail to postmaster@NAME (RFC 5321 4.5.1) goes to the --postmaster ADDRESS,
    or, without one and until such an alias exists, to the oldest user."""
    accounts = instance.accounts
    if postmaster:
        normalize(postmaster)           # a bad target is refused before any change
    accounts.add_domain(name)
    if postmaster:
        try:
            accounts.add_alias(f"postmaster@{name}", [postmaster])
        except AccountError:
            accounts.remove_domain(name)    # a command that fails changes nothing
            raise


@domain.command("list")
@pass_instance
def list_(instance):
    """Print the local domains, one a line."""
    for name in instance.accounts.domains():
        click.echo(name)


@domain.command("remove")
@click.argument("name")
@pass_instance
def remove(instance, name):
    """Stop taking mail for NAME. Refused while it has users or aliases."""
    instance.accounts.remove_domain(name)
