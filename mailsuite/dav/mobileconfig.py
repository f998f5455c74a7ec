"""An Apple configuration profile (.mobileconfig) for the logged-in user: the mail
account (IMAP and submission, implicit TLS) and the CalDAV and CardDAV accounts,
from the configuration, like dav.autoconfig's answers.

    app(hostname)          # WSGI: GET /mailsuite.mobileconfig, behind the login

iOS and macOS install the profile and ask for the password, which the profile
does not hold. The identifiers are derived from the hostname and the address
(UUID version 5), so a profile downloaded again replaces the one installed
rather than adding a second account.
"""

import plistlib
import uuid

from .autoconfig import INCOMING, OUTGOING

PATH = "/mailsuite.mobileconfig"
CONTENT_TYPE = "application/x-apple-aspen-config"
DAV_PORT = 443          # mail-davd.socket


def app(hostname):
    def serve(environ, start_response):
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed",
                           [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        body = profile(hostname, environ["mailsuite.user"])
        start_response("200 OK", [
            ("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))),
            ("Content-Disposition", 'attachment; filename="mailsuite.mobileconfig"')])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]
    return serve


def profile(hostname, address):
    """The profile as an XML property list (bytes)."""
    imap = next(s for s in INCOMING if s.kind == "imap" and s.tls == "SSL")
    smtp = next(s for s in OUTGOING if s.tls == "SSL")
    mail = {
        "PayloadType": "com.apple.mail.managed",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAccountDescription": address,
        "EmailAddress": address,
        "IncomingMailServerHostName": hostname,
        "IncomingMailServerPortNumber": imap.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": hostname,
        "OutgoingMailServerPortNumber": smtp.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    caldav = {
        "PayloadType": "com.apple.caldav.account",
        "CalDAVAccountDescription": f"Calendars of {address}",
        "CalDAVHostName": hostname,
        "CalDAVPort": DAV_PORT,
        "CalDAVUseSSL": True,
        "CalDAVUsername": address,
        "CalDAVPrincipalURL": f"https://{hostname}/{address}/",
    }
    carddav = {
        "PayloadType": "com.apple.carddav.account",
        "CardDAVAccountDescription": f"Contacts of {address}",
        "CardDAVHostName": hostname,
        "CardDAVPort": DAV_PORT,
        "CardDAVUseSSL": True,
        "CardDAVUsername": address,
        "CardDAVPrincipalURL": f"https://{hostname}/{address}/",
    }
    payloads = [_payload(hostname, address, part) for part in (mail, caldav, carddav)]
    top = _payload(hostname, address, {
        "PayloadType": "Configuration",
        "PayloadDisplayName": f"{address} on {hostname}",
        "PayloadDescription": "Mail, calendars and contacts",
        "PayloadContent": payloads,
        "PayloadRemovalDisallowed": False,
    })
    return plistlib.dumps(top, fmt=plistlib.FMT_XML)


def _payload(hostname, address, fields):
    kind = fields["PayloadType"]
    reverse = ".".join(reversed(hostname.split(".")))
    return {
        **fields,
        "PayloadIdentifier": f"{reverse}.mailsuite.{address}.{kind}",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                      f"mailsuite:{hostname}:{address}:{kind}")).upper(),
        "PayloadVersion": 1,
    }
