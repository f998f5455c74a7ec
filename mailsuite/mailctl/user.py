"""mailctl user add|list|remove|passwd|disable|enable|quota: the mailboxes.

Where a new password comes from (add, passwd):
  --password-stdin   the first line of standard input (without its line end);
  --generate         a random one, printed on standard output once the change is made;
  neither            a prompt, asked twice, when standard input is a terminal; else
                     a generated one, printed, as with --generate.
A generated password is printed alone on its line, so scripts can capture it.

A quota is a size in bytes, or with a suffix K, M, G or T (powers of 1024); 0 or
"none" is no limit. It bounds what the user's mail takes (every folder): imapd
refuses an APPEND or COPY past it, deliverd fails a delivery past it (5.2.2), and
smtpd refuses recipients whose mailbox is already full.

Refusals (invalid address, unknown domain, duplicate, no such user) come from
core.accounts as AccountError and exit 1. Removing a user keeps its mail on disk.
"""

import re
import secrets
import sys

import click

from ..core.accounts import AccountError, normalize, split
from . import Failure, main, pass_instance


@main.group()
def user():
    """Manage the users (mailboxes)."""


class Size(click.ParamType):
    """A size in bytes: 1048576, 512K, 2G; 0 or "none" for no limit."""
    name = "size"
    UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = value.strip().upper()
        if text == "NONE":
            return 0
        match = re.fullmatch(r"(\d{1,15})([KMGT]?)", text)
        if not match:
            self.fail(f"{value!r} is not a size (bytes, or with K, M, G or T)",
                      param, ctx)
        return int(match.group(1)) * self.UNITS[match.group(2)]


def password_options(command):
    """The options choosing where a new password comes from."""
    command = click.option(
        "--generate", is_flag=True,
        help="Generate a random password and print it.")(command)
    return click.option(
        "--password-stdin", is_flag=True,
        help="Read the password from the first line of standard input.")(command)


def check_password_options(password_stdin, generate):
    if password_stdin and generate:
        raise click.UsageError("--password-stdin and --generate exclude each other")


def new_password(address, password_stdin, generate):
    """(password, generated) as the options and the terminal say."""
    if password_stdin:
        return _read_stdin(), False
    if generate or not sys.stdin.isatty():
        # 16 random bytes: 128 bits, as URL-safe text that survives any client.
        return secrets.token_urlsafe(16), True
    return click.prompt(f"Password for {address}", hide_input=True,
                        confirmation_prompt=True), False


def _read_stdin():
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise Failure("no password on standard input")
    return password


@user.command("add")
@click.argument("address")
@click.option("--quota", type=Size(), default=0, metavar="SIZE",
              help="Mailbox size limit: bytes, or with K, M, G or T; 0 (the "
                   "default) for none.")
@password_options
@pass_instance
def add(instance, address, quota, password_stdin, generate):
    """Create the user ADDRESS (local@domain); its domain must exist.

    The password is read with --password-stdin, made up with --generate, else
    asked for at a terminal; without a terminal it is generated. A generated
    password is printed alone on standard output."""
    check_password_options(password_stdin, generate)
    # Checked before the prompt as well as by add_user, so nobody types a
    # password twice only to be refused.
    local, domain = split(address)
    if not instance.accounts.is_local_domain(domain):
        raise AccountError(f"unknown domain: {domain}")
    if instance.accounts.get_user(address) is not None:
        raise AccountError(f"user {local}@{domain} already exists")
    password, generated = new_password(address, password_stdin, generate)
    instance.accounts.add_user(address, password, quota=quota)
    if generated:
        click.echo(password)


@user.command("list")
@click.argument("domain", required=False)
@pass_instance
def list_(instance, domain):
    """Print the users, of DOMAIN or of all domains: the address, then
    "disabled" for a user who cannot log in and the quota when one is set."""
    for record in instance.accounts.users(domain):
        fields = [record["address"]]
        if not record["enabled"]:
            fields.append("disabled")
        if record["quota"]:
            fields.append(f"quota={record['quota']}")
        click.echo("\t".join(fields))


@user.command("remove")
@click.argument("address")
@pass_instance
def remove(instance, address):
    """Delete the user ADDRESS. Its mail stays on disk, under the state dir's
    mail/<domain>/<local>, until removed by hand."""
    instance.accounts.remove_user(address)


@user.command("passwd")
@click.argument("address")
@password_options
@pass_instance
def passwd(instance, address, password_stdin, generate):
    """Set a new password for ADDRESS; the password options are those of add."""
    check_password_options(password_stdin, generate)
    # Checked first, so nobody is asked for a password that cannot be set.
    address = normalize(address)
    if instance.accounts.get_user(address) is None:
        raise AccountError(f"no such user: {address}")
    password, generated = new_password(address, password_stdin, generate)
    instance.accounts.set_password(address, password)
    if generated:
        click.echo(password)


@user.command("disable")
@click.argument("address")
@pass_instance
def disable(instance, address):
    """Refuse logins for ADDRESS; mail is still received."""
    instance.accounts.set_enabled(address, False)


@user.command("enable")
@click.argument("address")
@pass_instance
def enable(instance, address):
    """Allow logins for ADDRESS again."""
    instance.accounts.set_enabled(address, True)


@user.command("quota")
@click.argument("address")
@click.argument("size", type=Size())
@pass_instance
def quota(instance, address, size):
    """Set the storage limit of ADDRESS to SIZE: bytes, or with a suffix K, M, G
    or T (powers of 1024); 0 or "none" for no limit. It counts every folder. Past
    it, IMAP APPEND and COPY are refused (NO [OVERQUOTA]), and so is new mail:
    deliverd fails it (5.2.2), smtpd refuses it at RCPT once the mailbox is full.
    Mail already there stays."""
    instance.accounts.set_quota(address, size)
