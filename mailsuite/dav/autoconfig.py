"""Mail client autoconfiguration, from the configuration, for every local domain.

Thunderbird (and clients that copied it) fetch
`https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS` or
`https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml`; Outlook POSTs its
request to `https://autodiscover.DOMAIN/autodiscover/autodiscover.xml`. Both get
the server's name (`server.hostname`) and the ports of the socket units, implicit
TLS first (RFC 8314 3), with the full address as the user name. A domain that is
not ours is 404, so the answers tell nothing about other domains. The answers are
built here at each request, never hand-edited.
"""

from typing import NamedTuple
from urllib.parse import unquote_plus
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import defusedxml.ElementTree

from ..core import accounts


class Service(NamedTuple):
    kind: str           # "imap", "pop3", "smtp"
    port: int
    tls: str            # "SSL" (implicit TLS) or "STARTTLS"


# The ports of mail-imapd-tls.socket, mail-imapd.socket, ... in that order of
# preference: implicit TLS before STARTTLS (RFC 8314 3), IMAP before POP3.
INCOMING = [Service("imap", 993, "SSL"), Service("imap", 143, "STARTTLS"),
            Service("pop3", 995, "SSL"), Service("pop3", 110, "STARTTLS")]
OUTGOING = [Service("smtp", 465, "SSL"), Service("smtp", 587, "STARTTLS")]

THUNDERBIRD_PATHS = ("/mail/config-v1.1.xml",
                     "/.well-known/autoconfig/mail/config-v1.1.xml")
OUTLOOK_PATHS = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")
OUTLOOK_RESPONSE = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                    "responseschema/2006a")
OUTLOOK_REQUEST = ("{http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                   "requestschema/2006}")


class NotOurs(Exception):
    """no such domain here"""


def routes(hostname, users):
    """[(path, WSGI application)] for davd's routing table."""
    thunderbird = _app(lambda environ: thunderbird_xml(
        hostname, _domain(environ, users)))
    outlook = _app(lambda environ: outlook_xml(hostname, _posted(environ, users)),
                   method="POST")
    return ([(path, thunderbird) for path in THUNDERBIRD_PATHS]
            + [(path, outlook) for path in OUTLOOK_PATHS])


def _app(build, method="GET"):
    def app(environ, start_response):
        allowed = (method, "HEAD") if method == "GET" else (method,)
        if environ["REQUEST_METHOD"] not in allowed:
            return _answer(start_response, "405 Method Not Allowed", b"",
                           [("Allow", method)])
        try:
            body = build(environ).encode("utf-8")
        except NotOurs:
            return _answer(start_response, "404 Not Found", b"no such domain here\n")
        except ValueError:
            return _answer(start_response, "400 Bad Request", b"malformed request\n")
        return _answer(start_response, "200 OK", body,
                       [("Content-Type", "application/xml; charset=utf-8")])
    return app


def _answer(start_response, status, body, headers=()):
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _domain(environ, users):
    """The local domain asked about: the address's, else the host's without
    "autoconfig."."""
    query = dict(part.partition("=")[::2] for part in environ["QUERY_STRING"].split("&"))
    address = unquote_plus(query.get("emailaddress", ""))
    if address:
        return _local(address.rpartition("@")[2], users)
    host = environ.get("HTTP_HOST", "").split(":")[0]
    return _local(host.removeprefix("autoconfig."), users)


def _local(domain, users):
    try:
        domain = accounts.normalize_domain(domain)
    except accounts.AccountError:
        raise NotOurs() from None
    if not users.is_local_domain(domain):
        raise NotOurs()
    return domain


def _posted(environ, users):
    """The address in an Outlook request (its EMailAddress element)."""
    data = environ["wsgi.input"].read()
    try:
        root = defusedxml.ElementTree.fromstring(data)
    except (ElementTree.ParseError, defusedxml.DefusedXmlException):
        raise ValueError("malformed XML") from None
    element = root.find(f"{OUTLOOK_REQUEST}Request/{OUTLOOK_REQUEST}EMailAddress")
    if element is None or not element.text:
        raise ValueError("no EMailAddress")
    try:
        address = accounts.normalize(element.text.strip())
    except accounts.AccountError:
        raise ValueError("malformed EMailAddress") from None
    _local(address.rpartition("@")[2], users)
    return address


def thunderbird_xml(hostname, domain):
    """Thunderbird's autoconfig format (clientConfig version 1.1)."""
    def server(tag, service):
        return (f'    <{tag} type="{service.kind}">\n'
                f"      <hostname>{escape(hostname)}</hostname>\n"
                f"      <port>{service.port}</port>\n"
                f"      <socketType>{service.tls}</socketType>\n"
                f"      <authentication>password-cleartext</authentication>\n"
                f"      <username>%EMAILADDRESS%</username>\n"
                f"    </{tag}>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n'
            f'  <emailProvider id="{escape(domain)}">\n'
            f"    <domain>{escape(domain)}</domain>\n"
            f"    <displayName>{escape(domain)}</displayName>\n"
            f"    <displayShortName>{escape(domain)}</displayShortName>\n"
            + "".join(server("incomingServer", s) for s in INCOMING)
            + "".join(server("outgoingServer", s) for s in OUTGOING)
            + "  </emailProvider>\n</clientConfig>\n")


def _implicit(kind, services):
    return next(s.port for s in services if s.kind == kind and s.tls == "SSL")


def outlook_xml(hostname, address):
    """Outlook's autodiscover answer (responseschema 2006a): IMAP and SMTP over
    implicit TLS (Outlook's SSL=on), the address as the login name."""
    def protocol(kind, port):
        return ("      <Protocol>\n"
                f"        <Type>{kind}</Type>\n"
                f"        <Server>{escape(hostname)}</Server>\n"
                f"        <Port>{port}</Port>\n"
                "        <DomainRequired>off</DomainRequired>\n"
                f"        <LoginName>{escape(address)}</LoginName>\n"
                "        <SPA>off</SPA>\n"
                "        <SSL>on</SSL>\n"
                "        <AuthRequired>on</AuthRequired>\n"
                "      </Protocol>\n")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
            'responseschema/2006">\n'
            f'  <Response xmlns="{OUTLOOK_RESPONSE}">\n'
            "    <Account>\n"
            "      <AccountType>email</AccountType>\n"
            "      <Action>settings</Action>\n"
            + protocol("IMAP", _implicit("imap", INCOMING))
            + protocol("SMTP", _implicit("smtp", OUTGOING))
            + "    </Account>\n  </Response>\n</Autodiscover>\n")
