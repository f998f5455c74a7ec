"""dav.autoconfig: what Thunderbird and Outlook read, checked as they read it."""

import io
from xml.etree import ElementTree

import pytest

from mailsuite.dav import autoconfig

HOST = "mail.example.org"
MS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


class Users:
    def is_local_domain(self, domain):
        return domain == "example.org"


APPS = dict(autoconfig.routes(HOST, Users()))


def call(path, method="GET", query="", body=b"", host="autoconfig.example.org"):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "HTTP_HOST": host, "wsgi.input": io.BytesIO(body)}
    data = b"".join(APPS[path](environ, start_response))
    assert int(seen["headers"]["Content-Length"]) == len(data)
    return seen["status"], data


def servers(xml, tag):
    root = ElementTree.fromstring(xml)
    return [(s.get("type"), s.findtext("hostname"), int(s.findtext("port")),
             s.findtext("socketType"), s.findtext("username"),
             s.findtext("authentication"))
            for s in root.iter(tag)]


@pytest.mark.parametrize("path", autoconfig.THUNDERBIRD_PATHS)
@pytest.mark.parametrize("query, host", [
    ("emailaddress=alice%40example.org", "autoconfig.example.org"),
    ("emailaddress=alice@Example.ORG", "elsewhere.test"),
    ("", "autoconfig.example.org:443"),
    ("", "example.org"),
])
def test_thunderbird(path, query, host):
    status, xml = call(path, query=query, host=host)
    assert status == 200
    root = ElementTree.fromstring(xml)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    assert root.find("emailProvider").get("id") == "example.org"
    assert root.findtext("emailProvider/domain") == "example.org"
    login = ("%EMAILADDRESS%", "password-cleartext")
    assert servers(xml, "incomingServer") == [
        ("imap", HOST, 993, "SSL", *login), ("imap", HOST, 143, "STARTTLS", *login),
        ("pop3", HOST, 995, "SSL", *login), ("pop3", HOST, 110, "STARTTLS", *login)]
    assert servers(xml, "outgoingServer") == [
        ("smtp", HOST, 465, "SSL", *login), ("smtp", HOST, 587, "STARTTLS", *login)]


@pytest.mark.parametrize("query, host", [
    ("emailaddress=alice%40other.test", "autoconfig.example.org"),
    ("", "autoconfig.other.test"),
    ("emailaddress=%3Cscript%3E", "x"),
])
def test_thunderbird_other_domains_are_404(query, host):
    assert call(autoconfig.THUNDERBIRD_PATHS[0], query=query, host=host)[0] == 404


def outlook_request(address):
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
            f'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
            f"<EMailAddress>{address}</EMailAddress><AcceptableResponseSchema>"
            f"{autoconfig.OUTLOOK_RESPONSE}</AcceptableResponseSchema></Request>"
            f"</Autodiscover>").encode()


@pytest.mark.parametrize("path", autoconfig.OUTLOOK_PATHS)
def test_outlook(path):
    status, xml = call(path, "POST", body=outlook_request("Bob@example.org"))
    assert status == 200
    root = ElementTree.fromstring(xml)
    assert root.tag == ("{http://schemas.microsoft.com/exchange/autodiscover/"
                        "responseschema/2006}Autodiscover")
    account = root.find(f"{MS}Response/{MS}Account")
    assert account.findtext(f"{MS}AccountType") == "email"
    assert account.findtext(f"{MS}Action") == "settings"
    protocols = [(p.findtext(f"{MS}Type"), p.findtext(f"{MS}Server"),
                  int(p.findtext(f"{MS}Port")), p.findtext(f"{MS}SSL"),
                  p.findtext(f"{MS}LoginName"), p.findtext(f"{MS}SPA"),
                  p.findtext(f"{MS}AuthRequired"))
                 for p in account.iter(f"{MS}Protocol")]
    assert protocols == [("IMAP", HOST, 993, "on", "bob@example.org", "off", "on"),
                         ("SMTP", HOST, 465, "on", "bob@example.org", "off", "on")]


@pytest.mark.parametrize("body, status", [
    (outlook_request("bob@other.test"), 404),
    (outlook_request("not an address"), 400),
    (b"<Autodiscover><oops", 400),
    (b"<Autodiscover/>", 400),
    (b'<!DOCTYPE d [<!ENTITY a "a">]><Autodiscover>&a;</Autodiscover>', 400),
])
def test_outlook_refusals(body, status):
    assert call(autoconfig.OUTLOOK_PATHS[0], "POST", body=body)[0] == status


def test_wrong_methods_are_405():
    assert call(autoconfig.OUTLOOK_PATHS[0], "GET")[0] == 405
    assert call(autoconfig.THUNDERBIRD_PATHS[0], "POST",
                query="emailaddress=a%40example.org")[0] == 405
