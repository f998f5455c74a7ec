"""The ACME account: its key, made once, and its registration at the CA.

The key (ECDSA P-256, signing with ES256) lives in STATE/acme/account-key.pem and
is never replaced; the account's URL at the CA, in STATE/acme/account.json with
the directory it belongs to. An account whose URL was lost (or a new directory)
is looked up by its key: RFC 8555 7.3.1 answers a newAccount request for a key
that has an account with that account, which is then kept, not recreated.
"""

import json
import logging

import josepy as jose
from acme import client, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..core import files

log = logging.getLogger(__name__)
USER_AGENT = "mailsuite-acmed"


def key(cfg, gid=None):
    """The account key (a josepy JWK), made at the first call."""
    path = cfg.state_path("acme", "account-key.pem")
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        files.write_atomic(path, pem, 0o600 if gid is None else 0o640, gid)
        log.info("acme: new account key in %s", path)
    return jose.JWKEC.load(pem)


def connect(cfg, account_key):
    """A client of the configured directory, not yet logged in to an account."""
    net = client.ClientNetwork(account_key, alg=jose.ES256, user_agent=USER_AGENT,
                               verify_ssl=cfg.acmed.ca_bundle or True)
    return client.ClientV2(client.ClientV2.get_directory(cfg.acmed.directory, net), net)


def log_in(acme, cfg, gid=None):
    """Use the saved account of this directory, else find or create it; returns
    its URL."""
    saved = _saved(cfg)
    if saved.get("directory") == cfg.acmed.directory and saved.get("uri"):
        uri = saved["uri"]
    else:
        uri = _find_or_create(acme, cfg)
        files.write_atomic(_path(cfg), json.dumps(
            {"directory": cfg.acmed.directory, "uri": uri}).encode(), 0o644, gid)
    acme.net.account = messages.RegistrationResource(uri=uri,
                                                     body=messages.Registration())
    return uri


def _find_or_create(acme, cfg):
    contact = (f"mailto:{cfg.acmed.email}",) if cfg.acmed.email else ()
    registration = messages.NewRegistration(contact=contact,
                                            terms_of_service_agreed=True)
    try:
        uri = acme.new_account(registration).uri
        log.info("acme: account created: %s", uri)
    except errors.ConflictError as exc:
        uri = exc.location
        log.info("acme: account found for the key: %s", uri)
    return uri


def _path(cfg):
    return cfg.state_path("acme", "account.json")


def _saved(cfg):
    try:
        return json.loads(_path(cfg).read_text())
    except (OSError, ValueError):
        return {}
