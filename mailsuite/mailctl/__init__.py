"""mailctl: the administration command (click). One module per command group.

    mailctl [-c FILE] domain add|list|remove ...
    mailctl [-c FILE] user add|list|remove|passwd|disable|enable ...
    mailctl [-c FILE] alias add|list|remove ...
    mailctl [-c FILE] tls self-signed ...;  mailctl cert status|renew [--force]
    mailctl [-c FILE] setup [--hostname H] [--domain D] [--admin ADDRESS] [--yes]
    mailctl [-c FILE] dkim generate|list|dns|rotate|remove ...;  mailctl dns DOMAIN
    mailctl [-c FILE] queue list|show|retry|retry-all|delete|hold|release|stats
    mailctl [-c FILE] doctor [--domain D] [--json] ...

The instance is picked by -c/--config, else $MAILSUITE_CONFIG, else
/etc/mailsuite/mailsuite.toml. Each group module adds itself to `main` when
imported; adding a group is one import line at the bottom of this file.

Failure policy, as exit status: 0 done; 1 refused (the message on stderr as
"mailctl: <message>"); 2 usage (click's own); 78 (EX_CONFIG) the configuration
file is missing or wrong. The configuration is read only when a command needs it,
so `--help` works anywhere.
"""

import sys

import click

from .. import __version__
from ..core import accounts, config, dkimkeys


class Failure(click.ClickException):
    """A refusal: one line "mailctl: <message>" on stderr and a non-zero exit."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None):
        click.echo(f"mailctl: {self.message}", file=file or sys.stderr)


class Instance:
    """The instance being administered; opened on first use, closed at exit."""

    def __init__(self, path):
        self.path = path
        self._config = None
        self._accounts = None

    @property
    def config(self):
        if self._config is None:
            try:
                self._config = config.load(self.path)
            except config.ConfigError as exc:
                raise Failure(str(exc), config.EX_CONFIG) from None
        return self._config

    @property
    def accounts(self):
        if self._accounts is None:
            self._accounts = accounts.Accounts(self.config.state_dir)
        return self._accounts

    def close(self):
        if self._accounts is not None:
            self._accounts.close()


pass_instance = click.make_pass_decorator(Instance)


class _Main(click.Group):
    def invoke(self, ctx):
        # Every subcommand runs inside this call, so a refusal raised anywhere
        # below becomes one message and exit 1, never a traceback.
        try:
            return super().invoke(ctx)
        except (accounts.AccountError, dkimkeys.DKIMKeyError) as exc:
            raise Failure(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_file", metavar="FILE",
              help="Configuration file (default: $MAILSUITE_CONFIG or "
                   f"{config.DEFAULT_PATH}).")
@click.version_option(__version__, prog_name="mailctl")
@click.pass_context
def main(ctx, config_file):
    """Administer a mailsuite mail server: domains, users, aliases, the TLS
    certificate, DKIM keys, the DNS records to publish, and the queue; check
    that it is ready for mail (doctor)."""
    instance = Instance(config.config_path(config_file))
    ctx.obj = instance
    ctx.call_on_close(instance.close)


from . import domain, user, alias, tls, setup, dkim, queue, doctor, cert  # noqa: E402,F401  (each adds its group to main)
