"""mailctl cert status|renew: the certificate acmed keeps (ACME, RFC 8555).

`status` reads the certificate of tls.cert and STATE/acme/status.json: names,
issuer, days left, the names it lacks, the last attempt and its result; it always
exits 0, also when there is no certificate yet. `renew` orders a certificate now
if it is due (with --force, even if not), whatever the back-off, through acmed's
port 80 for the CA's HTTP-01 requests: acmed must be reachable there. Refusals,
exit 1: a failed order, with the CA's problem document.

python3-acme, requests and cryptography's x509 take most of a second to import:
only these commands import them, so that every other mailctl command starts fast.
"""

import datetime
import logging

import click

from ..acme import status
from . import Failure, main, pass_instance
from .tls import _daemon_group


@main.group("cert")
def cert_group():
    """Show and renew the certificate from the ACME CA (acmed)."""


@cert_group.command("status")
@pass_instance
def cert_status(instance):
    """Show the certificate's names, issuer and days left, and the last
    renewal attempt."""
    from ..acme import certinfo, renew
    cfg = instance.config
    info = certinfo.read(cfg.tls.cert)
    if info is None:
        click.echo(f"certificate: none in {cfg.tls.cert}")
    else:
        wanted = renew.wanted_names(cfg, instance.accounts.domains())
        click.echo(f"certificate: {cfg.tls.cert}")
        click.echo(f"names: {', '.join(info.names) or '(none)'}")
        click.echo(f"issuer: {info.issuer}" + (" (self-signed)" if info.self_signed
                                                else ""))
        click.echo(f"expires: {_when(info.not_after.timestamp())} "
                   f"({info.days_left()} days left)")
        missing = [name for name in wanted if name not in info.names]
        if missing:
            click.echo(f"missing names: {', '.join(missing)}")
    _echo_attempts(status.load(cfg))


def _echo_attempts(last):
    if not last.last_attempt:
        click.echo("last attempt: never")
        return
    click.echo(f"last attempt: {_when(last.last_attempt)}: {last.result}")
    if last.backing_off():
        click.echo(f"next automatic attempt: after {_when(last.next_attempt)} "
                   f"({last.failures} failure(s) in a row)")


@cert_group.command("renew")
@click.option("--force", is_flag=True, help="Renew even if the certificate is not due.")
@pass_instance
def cert_renew(instance, force):
    """Order a new certificate now if the current one is due (missing,
    self-signed, lacking a name, or expiring within acmed.renew_days)."""
    from ..acme import order, renew
    cfg = instance.config
    _show_progress()
    try:
        outcome = renew.check(cfg, force=force, manual=True,
                              gid=_daemon_group(cfg.state_dir))
    except order.OrderFailed as exc:
        raise Failure(f"renewal failed: {exc}") from None
    except OSError as exc:
        raise Failure(f"cannot renew: {exc}") from None
    click.echo(outcome.message)


def _show_progress():
    """The acme modules' progress lines on stderr; their error is the Failure's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("mailctl: %(message)s"))
    handler.addFilter(lambda record: record.levelno < logging.ERROR)
    logger = logging.getLogger("mailsuite.acme")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _when(stamp):
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc) \
        .strftime("%Y-%m-%d %H:%M UTC")
