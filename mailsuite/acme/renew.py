"""The renewal: whether the certificate is due, and getting its successor.

`check()` is the one entry point, for acmed (automatic: it respects the back-off)
and `mailctl cert renew` (manual: it tries at once). It runs under a lock on
STATE/acme, so two never order at once. The new key and chain replace tls.key and
tls.cert only once both are in hand, each file atomically: the daemons' TLS
(core.tls) picks them up at their next handshake. Then acmed.hook runs, with the
paths in its environment, to refresh what depends on the key (TLSA records for
DANE, RFC 7671 8.1); its failure is logged and changes nothing.
"""

import logging
import os
import shlex
import subprocess
import time
from typing import NamedTuple

from acme import errors as acme_errors

from ..core import accounts, files
from . import account, certinfo, order, status

log = logging.getLogger(__name__)
HOOK_TIMEOUT = 300


class Outcome(NamedTuple):
    renewed: bool
    message: str


def wanted_names(cfg, domains):
    """The host name, then each extra name (with {domain} for every domain)."""
    names = [cfg.server.hostname.lower()]
    for template in cfg.acmed.names:
        expanded = [template.replace("{domain}", d) for d in domains] \
            if "{domain}" in template else [template]
        names += [name.lower() for name in expanded if name.lower() not in names]
    return names


def local_domains(cfg):
    store = accounts.Accounts(cfg.state_dir)
    try:
        return store.domains()
    finally:
        store.close()


def check(cfg, force=False, manual=False, gid=None):
    """Renew the certificate if it is due (or `force`); returns an Outcome and
    raises order.OrderFailed when the attempt fails (recorded for the back-off)."""
    acme_dir = cfg.state_path("acme")
    acme_dir.mkdir(parents=True, exist_ok=True)
    with files.locked_dir(acme_dir):
        names = wanted_names(cfg, local_domains(cfg))
        info = certinfo.read(cfg.tls.cert)
        why = "renewal forced" if force else \
            certinfo.why_due(info, names, cfg.acmed.renew_days)
        if not why:
            return Outcome(False, f"not due: {info.days_left()} days left")
        last = status.load(cfg)
        if not manual and last.backing_off():
            return Outcome(False, f"{why}, but backing off after {last.failures} "
                           f"failure(s) until {_when(last.next_attempt)}")
        log.info("acme: ordering a certificate (%s) for %s", why, ", ".join(names))
        try:
            _renew(cfg, names, gid)
        except order.OrderFailed as exc:
            after = last.failed(str(exc))
            status.save(cfg, after, gid)
            log.error("acme: renewal failed (next attempt after %s): %s",
                      _when(after.next_attempt), exc)
            raise
        status.save(cfg, status.Status.succeeded(), gid)
    run_hook(cfg)
    return Outcome(True, f"renewed ({why}): {', '.join(names)}")


def _renew(cfg, names, gid):
    key = account.key(cfg, gid)
    try:
        acme = account.connect(cfg, key)
        account.log_in(acme, cfg, gid)
    except order.UNREACHABLE as exc:
        raise order.OrderFailed(f"cannot reach {cfg.acmed.directory}: {exc}") from None
    except acme_errors.Error as exc:
        raise order.OrderFailed(order.describe(exc)) from None
    issued = order.issue(acme, key, names, cfg.acmed.key_type,
                         order.challenge_dir(cfg), gid)
    # The key first: until the chain follows, core.tls finds them mismatched and
    # keeps serving the old pair.
    files.write_atomic(cfg.tls.key, issued.key_pem, 0o600 if gid is None else 0o640, gid)
    files.write_atomic(cfg.tls.cert, issued.chain_pem, 0o644, gid)
    log.info("acme: new certificate in %s", cfg.tls.cert)


def run_hook(cfg):
    if not cfg.acmed.hook:
        return
    env = dict(os.environ, MAILSUITE_CERT=cfg.tls.cert, MAILSUITE_KEY=cfg.tls.key)
    try:
        proc = subprocess.run(shlex.split(cfg.acmed.hook), env=env, capture_output=True,
                              text=True, errors="replace", timeout=HOOK_TIMEOUT)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        log.error("acme: hook %s failed: %s", cfg.acmed.hook[:200], exc)
        return
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).split())[-500:]
        log.error("acme: hook exited %d: %s", proc.returncode, tail)


def _when(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
