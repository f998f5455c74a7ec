"""Radicale (CalDAV RFC 4791, CardDAV RFC 6352) as a library: its configuration
built here, never read from a file, and the auth plugin that lets in only the
users the gate (dav.gate) has logged in.

Storage is STATE/dav/ (Radicale's multifilesystem: one folder per user under
collection-root/, each calendar or address book a folder of .ics/.vcf files).
Rights are owner_only: a user reads and writes only the collections under their
own principal, /address@domain/. Radicale's web interface is off.
"""

import hmac
import io
import logging
import secrets
from pathlib import Path
from typing import NamedTuple

import radicale
import radicale.auth
import radicale.config
import radicale.storage

DEFAULT_COLLECTIONS = {
    "calendar": {"tag": "VCALENDAR", "D:displayname": "Calendar",
                 "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL"},
    "contacts": {"tag": "VADDRESSBOOK", "D:displayname": "Contacts"},
}

log = logging.getLogger(__name__)


def storage_dir(cfg):
    return Path(cfg.state_dir) / "dav"


class Backend(NamedTuple):
    app: object         # Radicale's WSGI application
    storage: object     # its storage, for the collections made at first login


def build(cfg, ticket):
    """Radicale for the suite's configuration; `ticket` is the secret the gate
    hands the auth plugin with each logged-in user."""
    configuration = radicale.config.load()
    configuration.update({
        "auth": {"type": _auth_plugin(ticket)},
        "rights": {"type": "owner_only"},
        "storage": {"filesystem_folder": str(storage_dir(cfg))},
        "web": {"type": "none"},
        "server": {"max_content_length": str(cfg.davd.max_request_body)},
        "logging": {"mask_passwords": "True"},
    }, "mailsuite davd", privileged=True)
    # Radicale logs each request at info; the HTTP layer logs one line for it.
    radicale_log = logging.getLogger("radicale")
    radicale_log.setLevel(logging.WARNING)
    radicale_log.addFilter(one_line_for_client_errors)
    # A second storage object on the same folder: Radicale's locks are files,
    # shared by both.
    return Backend(radicale.Application(configuration),
                   radicale.storage.load(configuration))


def guarded(app):
    """Radicale behind two checks. Its path is text decoded from UTF-8, as its
    own server gives it (WSGI's PATH_INFO is bytes as latin-1): a path that is
    not UTF-8 is 400. An XML body with a document type declaration is 400:
    WebDAV bodies need none (RFC 4918 20.6 warns of entity expansion), and
    Radicale's defusedxml would raise on one, a 500."""
    def checked(environ, start_response):
        try:
            path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(start_response, b"path is not UTF-8\r\n")
        body = environ["wsgi.input"].read()
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            return _refuse(start_response, b"DTDs are not accepted\r\n")
        environ["PATH_INFO"] = path
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)
    return checked


def _refuse(start_response, text):
    start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                       ("Content-Length", str(len(text)))])
    return [text]


def one_line_for_client_errors(record):
    """Radicale logs a client's bad request ("Bad PUT request on ...: why") as a
    warning with a traceback; a client's doing is one line here. Its errors
    (a bug: "An exception occurred ...") keep theirs."""
    if record.levelno == logging.WARNING and record.exc_info:
        record.exc_info = None
        record.exc_text = None
    return True


def new_ticket():
    return secrets.token_hex(32)


def _auth_plugin(ticket):
    class MailAuth(radicale.auth.BaseAuth):
        """The user the gate logged in (environ "mailsuite.user"), vouched for by
        the process's ticket; Radicale's own Basic parsing is never used."""

        def get_external_login(self, environ):
            return environ.get("mailsuite.user", ""), ticket

        def login(self, login, password):
            if login and hmac.compare_digest(password, ticket):
                return login
            return ""
    return MailAuth


def ensure_collections(storage, user):
    """The user's principal with a calendar and an address book, created at the
    first login (in a worker thread: it writes to the disk)."""
    principal = f"/{user}/"
    with storage.acquire_lock("w", user):
        if next(iter(storage.discover(principal, depth="0")), None) is not None:
            return False
        storage.create_collection(principal)
        for name, props in DEFAULT_COLLECTIONS.items():
            storage.create_collection(f"{principal}{name}/", props=props)
    log.info("dav: created the calendar and address book of %s", user)
    return True
