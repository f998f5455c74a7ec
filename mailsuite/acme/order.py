"""One issuance (RFC 8555 7.4): a new key, an order for the names, their HTTP-01
challenges, the finalization, the chain.

Each challenge's key authorization is written to STATE/acme/http-01/<token>,
where acmed's port-80 application serves it (so it does not matter which process
runs the order: acmed or `mailctl cert renew`), and removed when the order ends.
Every failure is raised as `OrderFailed`, its message carrying the CA's problem
document (RFC 8555 6.7), one part per name that failed.
"""

import datetime
import logging
from typing import NamedTuple

import josepy as jose
import requests
from acme import challenges, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..core import files

log = logging.getLogger(__name__)
ORDER_TIMEOUT = 90          # seconds for validation and finalization
MAX_PROBLEM = 1200          # characters of problem documents in one message
# What python3-acme raises when the CA cannot be reached or answers nonsense:
# requests' errors, the ValueError it makes of a connection error, and josepy's
# when an answer is not the JSON that RFC 8555 describes.
UNREACHABLE = (requests.RequestException, ValueError, jose.errors.Error)


class OrderFailed(Exception):
    """The CA refused or failed the order; the message says why."""


class Issued(NamedTuple):
    key_pem: bytes
    chain_pem: bytes


def challenge_dir(cfg):
    return cfg.state_path("acme", "http-01")


def issue(acme, account_key, names, key_type, tokens_dir, gid=None):
    """Order a certificate for `names`; returns Issued."""
    key_pem = new_key(key_type)
    written = []
    try:
        orderr = acme.new_order(crypto_util.make_csr(key_pem, list(names)))
        for authzr in orderr.authorizations:
            if authzr.body.status != messages.STATUS_VALID:
                _answer(acme, account_key, authzr, tokens_dir, gid, written)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_TIMEOUT)
        orderr = acme.poll_and_finalize(orderr, deadline)
    except errors.Error as exc:
        raise OrderFailed(describe(exc)) from None
    except UNREACHABLE as exc:
        raise OrderFailed(f"no answer from the CA: {exc}") from None
    finally:
        for path in written:
            path.unlink(missing_ok=True)
    return Issued(key_pem, orderr.fullchain_pem.encode())


def new_key(key_type):
    """A PKCS#8 PEM key: ECDSA P-256, or RSA 2048 for old clients."""
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _answer(acme, account_key, authzr, tokens_dir, gid, written):
    """Publish the HTTP-01 key authorization (RFC 8555 8.3), noting its file in
    `written`, and tell the CA."""
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            break
    else:
        raise OrderFailed(f"{authzr.body.identifier.value}: the CA offers no "
                          "http-01 challenge")
    response, validation = challb.chall.response_and_validation(account_key)
    tokens_dir.mkdir(parents=True, exist_ok=True)
    path = tokens_dir / challb.chall.encode("token")
    written.append(path)
    files.write_atomic(path, validation.encode(), 0o644, gid)
    acme.answer_challenge(challb, response)


def describe(exc):
    """The CA's problem documents in one line (of at most MAX_PROBLEM characters,
    so that the log line stays short whatever the CA sends)."""
    if isinstance(exc, errors.ValidationError):
        text = "; ".join(_problem(authzr) for authzr in exc.failed_authzrs)
        return text if len(text) <= MAX_PROBLEM else text[:MAX_PROBLEM] + "..."
    if isinstance(exc, errors.IssuanceError):
        return f"finalization refused: {_one_line(exc.error)}"
    if isinstance(exc, errors.TimeoutError):
        return f"the CA did not validate within {ORDER_TIMEOUT} s"
    return _one_line(exc) or type(exc).__name__


def _problem(authzr):
    errs = [challb.error for challb in authzr.body.challenges if challb.error]
    name = authzr.body.identifier.value
    return f"{name}: " + (", ".join(_one_line(e) for e in errs) or "invalid")


def _one_line(problem):
    return " ".join(str(problem).split())[:MAX_PROBLEM // 2]
