"""mailctl alias add|list|remove: addresses that forward to others.

A source is an address of a local domain, or "@domain" for the domain's catch-all
(mail for any address of the domain that is neither a user nor an alias). Targets
are addresses, local or not. Refusals come from core.accounts as AccountError and
exit 1.
"""

import click

from . import main, pass_instance


@main.group()
def alias():
    """Manage aliases and catch-alls."""


@alias.command("add")
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@pass_instance
def add(instance, source, targets):
    """Forward mail for SOURCE (an address, or @domain for a catch-all) to every
    TARGET address."""
    instance.accounts.add_alias(source, list(targets))


@alias.command("list")
@click.argument("domain", required=False)
@pass_instance
def list_(instance, domain):
    """Print the aliases, of DOMAIN or of all domains: "SOURCE -> TARGET, ..."."""
    for source, targets in instance.accounts.aliases(domain):
        click.echo(f"{source} -> {', '.join(targets)}")


@alias.command("remove")
@click.argument("source")
@pass_instance
def remove(instance, source):
    """Delete the alias or catch-all SOURCE."""
    instance.accounts.remove_alias(source)
