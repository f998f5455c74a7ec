"""mailctl domain add|list|remove: the domains this server takes mail for.

Refusals (invalid name, duplicate, unknown, a domain that still has users or
aliases) come from core.accounts as AccountError and exit 1.
"""

import click

from . import main, pass_instance


@main.group()
def domain():
    """Manage the local domains."""


@domain.command("add")
@click.argument("name")
@pass_instance
def add(instance, name):
    """Take mail for the domain NAME."""
    instance.accounts.add_domain(name)


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
