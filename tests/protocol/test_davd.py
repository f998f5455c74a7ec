"""davd: CalDAV/CardDAV through Radicale over HTTPS with the mail login, the path
checks, the users kept apart, and hostile HTTP answered without harm."""

import base64
import socket
import ssl
import subprocess

import caldav
import pytest

from harness import Instance

ALICE, BOB = "alice@example.test", "bob@example.test"
PASSWORD = "secret-password"


@pytest.fixture(scope="module")
def dav(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("davd"), extra_config=(
        "[davd]\nidle_timeout = 5\nmax_request_body = 100000\n"
        "request_timeout = 1\nbody_timeout = 1\n"
        "[login]\nfailure_delay = 0.01\nfailure_delay_max = 0.01\n"))
    inst.add_user(ALICE, PASSWORD)
    inst.add_user(BOB, PASSWORD)
    inst.start("davd")
    yield inst
    inst.close()
    log = inst.log("davd")
    assert "Traceback" not in log, log[-4000:]
    assert max(len(line.encode()) for line in log.splitlines()) <= 2048


def url(dav, path="/"):
    return f"https://127.0.0.1:{dav.port('https')}{path}"


def tls_connect(dav):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(("127.0.0.1", dav.port("https")), timeout=20)
    return ctx.wrap_socket(sock)


def auth(user, password=PASSWORD):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


def request(dav, method, path, user=ALICE, body=b"", headers=""):
    """(status, headers, body) of one request on its own connection."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"{auth(user) if user else ''}{headers}Content-Length: {len(body)}\r\n\r\n")
    with tls_connect(dav) as sock:
        sock.sendall(head.encode() + body)
        return read_all(sock)


def read_all(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), fields, body


EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//mailsuite tests//EN
BEGIN:VEVENT
UID:lunch-1@example.test
DTSTAMP:20260101T120000Z
DTSTART:20260102T120000Z
DTEND:20260102T130000Z
SUMMARY:Lunch with Bob
END:VEVENT
END:VCALENDAR
"""


def vcard(uid, name):
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\n"
            f"N:{name};;;;\r\nEND:VCARD\r\n")


def test_caldav_client_creates_an_event_and_reads_it_back(dav):
    client = caldav.DAVClient(url(dav), username=ALICE, password=PASSWORD,
                              ssl_verify_cert=str(dav.base / "tls/cert.pem"))
    calendars = client.principal().calendars()
    assert [c.name for c in calendars] == ["Calendar"]
    calendars[0].save_event(EVENT)
    again = caldav.DAVClient(url(dav), username=ALICE, password=PASSWORD,
                             ssl_verify_cert=str(dav.base / "tls/cert.pem"))
    again = again.principal().calendars()[0]
    event = again.event_by_uid("lunch-1@example.test")
    assert "SUMMARY:Lunch with Bob" in event.data


def test_wrong_password_is_401_and_no_login_is_401(dav):
    status, fields, _ = request(dav, "PROPFIND", f"/{ALICE}/", user=None)
    assert status == 401 and fields["www-authenticate"].startswith("Basic ")
    with tls_connect(dav) as sock:
        sock.sendall(f"GET /{ALICE}/ HTTP/1.1\r\n{auth(ALICE, 'wrong')}"
                     "Connection: close\r\n\r\n".encode())
        assert read_all(sock)[0] == 401
    assert "login failed: user=alice@example.test" in dav.log("davd")


@pytest.mark.parametrize("method, body", [
    ("PROPFIND", b""),
    ("GET", b""),
    ("PUT", vcard("intruder", "Mallory").encode()),
    ("DELETE", b""),
])
def test_a_user_cannot_touch_another_users_collections(dav, method, body):
    request(dav, "PROPFIND", f"/{BOB}/", user=BOB, headers="Depth: 0\r\n")
    path = f"/{BOB}/contacts/intruder.vcf" if method == "PUT" else f"/{BOB}/contacts/"
    status, _, _ = request(dav, method, path, body=body,
                           headers="Content-Type: text/vcard\r\n" if body else "")
    assert status == 403
    status, _, listing = request(dav, "PROPFIND", f"/{BOB}/contacts/", user=BOB,
                                 headers="Depth: 1\r\n")
    assert status == 207 and b"intruder" not in listing


@pytest.mark.parametrize("path", [
    f"/{ALICE}/../{BOB}/contacts/",
    f"/{ALICE}/%2e%2e/{BOB}/contacts/",
    f"/{ALICE}/%2E%2E/{BOB}/contacts/",
    f"/{ALICE}%2f..%2f{BOB}/contacts/",
    f"/{BOB}%2Fcontacts/",
    f"/{ALICE}/./contacts/",
    f"/{ALICE}/contacts%5c..%5c/",
    f"/{ALICE}/contacts/%00.vcf",
])
def test_path_tricks_are_refused(dav, path):
    assert request(dav, "PROPFIND", path, headers="Depth: 1\r\n")[0] == 400


def test_move_to_a_trick_destination_is_refused(dav):
    # The requests' Host is "x": Radicale moves only within the same host.
    assert request(dav, "PUT", f"/{ALICE}/contacts/m.vcf",
                   body=vcard("m", "M").encode())[0] == 201
    status, _, _ = request(dav, "MOVE", f"/{ALICE}/contacts/m.vcf", headers=(
        f"Destination: https://x/{ALICE}/contacts/%2e%2e/%2e%2e/{BOB}/contacts/m.vcf\r\n"))
    assert status == 400
    status, _, _ = request(dav, "MOVE", f"/{ALICE}/contacts/m.vcf", headers=(
        f"Destination: https://x/{BOB}/contacts/m.vcf\r\n"))
    assert status == 403
    status, _, _ = request(dav, "MOVE", f"/{ALICE}/contacts/m.vcf", headers=(
        f"Destination: https://x/{ALICE}/contacts/n.vcf\r\n"))
    assert status == 201


@pytest.mark.parametrize("well_known", ["/.well-known/caldav", "/.well-known/carddav"])
def test_well_known_redirects_to_the_root(dav, well_known):
    status, fields, _ = request(dav, "GET", well_known, user=None)
    assert status == 301 and fields["location"] == "/"


def test_vdirsyncer_syncs_an_address_book_both_ways(dav, tmp_path):
    config = tmp_path / "vdirsyncer.conf"
    local = tmp_path / "local"
    config.write_text(f"""[general]
status_path = "{tmp_path}/status/"

[pair contacts]
a = "local"
b = "remote"
collections = ["from b"]

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "{url(dav)}"
username = "{ALICE}"
password = "{PASSWORD}"
verify = "{dav.base / 'tls/cert.pem'}"
""")

    def vdirsyncer(*args):
        proc = subprocess.run(["vdirsyncer", "-c", str(config), *args], input="y\n" * 5,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    vdirsyncer("discover")
    (local / "contacts" / "carol.vcf").write_text(vcard("carol", "Carol"))
    vdirsyncer("sync")
    status, _, body = request(dav, "GET", f"/{ALICE}/contacts/carol.vcf")
    assert status == 200 and b"FN:Carol" in body
    status, _, _ = request(dav, "PUT", f"/{ALICE}/contacts/dave.vcf",
                           body=vcard("dave", "Dave").encode(),
                           headers="Content-Type: text/vcard\r\n")
    assert status == 201
    vdirsyncer("sync")
    texts = [p.read_text() for p in (local / "contacts").iterdir()]
    assert any("FN:Dave" in t for t in texts)


# hostile input: a clear 4xx, the connection closed, the daemon serving on

@pytest.mark.parametrize("raw, status", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Long: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"X-Many: c\r\n" * 101 + b"\r\n", 431),
    (b"PUT / HTTP/1.1\r\nContent-Length: 100001\r\n\r\n", 413),
    (b"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413),
    (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"ffff\r\n" + b"d" * 0xffff + b"\r\n" + b"ffff\r\n", 413),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", 408),                       # slow head
    (b"PUT / HTTP/1.1\r\nContent-Length: 50\r\n\r\nslow", 408),   # slow body
    (b"\x16\x03\x01garbage\r\n\r\n", 400),
])
def test_hostile_request_gets_a_clear_4xx(dav, raw, status):
    with tls_connect(dav) as sock:
        sock.sendall(raw)
        got, fields, body = read_all(sock)
    assert (got, fields["connection"]) == (status, "close") and body
    assert request(dav, "PROPFIND", f"/{ALICE}/", headers="Depth: 0\r\n")[0] == 207


def test_endless_body_is_cut_at_the_limit(dav):
    with tls_connect(dav) as sock:
        sock.sendall(b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(1000):       # far more than the 100000 bytes allowed
                sock.sendall(b"400\r\n" + b"e" * 0x400 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        assert read_all(sock)[0] == 413


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH"])
def test_malformed_xml_is_400(dav, method):
    status, _, _ = request(dav, method, f"/{ALICE}/calendar/", body=b"<propfind><oops",
                           headers="Depth: 0\r\nContent-Type: application/xml\r\n")
    assert status == 400


def test_billion_laughs_is_refused(dav):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            b'<propfind xmlns="DAV:"><prop><c>&c;</c></prop></propfind>')
    status, _, _ = request(dav, "PROPFIND", f"/{ALICE}/", body=bomb,
                           headers="Depth: 0\r\nContent-Type: application/xml\r\n")
    assert status == 400


def test_malformed_vcard_is_400_in_one_log_line(dav):
    status, _, _ = request(dav, "PUT", f"/{ALICE}/contacts/bad.vcf",
                           body=b"BEGIN:VCARD\r\nthis is no vcard\r\n",
                           headers="Content-Type: text/vcard\r\n")
    assert status == 400
    assert "Bad PUT request" in dav.log("davd")


def test_autoconfiguration_needs_no_login(dav):
    status, fields, body = request(
        dav, "GET", f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={ALICE}",
        user=None)
    assert status == 200 and fields["content-type"].startswith("application/xml")
    assert b"<hostname>mail.example.test</hostname>" in body
    outlook = (b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
               b'outlook/requestschema/2006"><Request><EMailAddress>alice@example.test'
               b"</EMailAddress></Request></Autodiscover>")
    status, _, body = request(dav, "POST", "/autodiscover/autodiscover.xml", user=None,
                              body=outlook, headers="Content-Type: text/xml\r\n")
    assert status == 200 and b"<LoginName>alice@example.test</LoginName>" in body
    assert request(dav, "GET", "/mail/config-v1.1.xml?emailaddress=a%40other.test",
                   user=None)[0] == 404


def test_the_root_lists_only_ones_own_principal(dav):
    request(dav, "PROPFIND", "/", user=BOB, headers="Depth: 0\r\n")
    status, _, body = request(dav, "PROPFIND", "/", headers="Depth: 1\r\n")
    assert status == 207 and b"/alice%40example.test/" in body
    assert b"bob" not in body


def test_names_beyond_ascii_keep_their_href(dav):
    path = f"/{ALICE}/contacts/jos%C3%A9.vcf"
    assert request(dav, "PUT", path, body=vcard("jose", "José").encode(),
                   headers="Content-Type: text/vcard\r\n")[0] == 201
    status, _, body = request(dav, "PROPFIND", f"/{ALICE}/contacts/", headers="Depth: 1\r\n")
    assert status == 207 and b"/contacts/jos%C3%A9.vcf" in body
    assert request(dav, "GET", path)[0] == 200
    assert request(dav, "GET", f"/{ALICE}/contacts/jos%E9.vcf")[0] == 400


def test_health_and_metrics_are_served_without_a_login_to_loopback(dav):
    import json
    status, fields, body = request(dav, "GET", "/health", user=None)
    report = json.loads(body)
    # Only davd runs in this instance: the other daemons' sockets are down.
    assert status == 503 and report["status"] == "failing"
    assert fields["content-type"] == "application/json"
    assert report["checks"]["sockets"]["listening"]["smtp"]["ok"] is False
    assert report["checks"]["certificate"]["ok"] is True
    status, fields, body = request(dav, "GET", "/metrics", user=None)
    assert status == 200 and fields["content-type"].startswith("text/plain")
    assert b'mailsuite_connections{program="davd"} 1.0' in body
    assert b"mailsuite_queue_messages 0.0" in body


def test_a_logged_in_user_downloads_an_apple_profile(dav):
    import plistlib
    assert request(dav, "GET", "/mailsuite.mobileconfig", user=None)[0] == 401
    status, fields, body = request(dav, "GET", "/mailsuite.mobileconfig")
    assert status == 200
    assert fields["content-type"] == "application/x-apple-aspen-config"
    top = plistlib.loads(body)
    assert top["PayloadType"] == "Configuration" and top["PayloadVersion"] == 1
    parts = {p["PayloadType"]: p for p in top["PayloadContent"]}
    mail = parts["com.apple.mail.managed"]
    assert (mail["EmailAddress"], mail["IncomingMailServerUsername"]) == (ALICE, ALICE)
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"],
            mail["IncomingMailServerUseSSL"]) == ("mail.example.test", 993, True)
    assert (mail["OutgoingMailServerPortNumber"], mail["OutgoingMailServerUseSSL"]) \
        == (465, True)
    for kind, prefix in (("com.apple.caldav.account", "CalDAV"),
                         ("com.apple.carddav.account", "CardDAV")):
        part = parts[kind]
        assert (part[f"{prefix}HostName"], part[f"{prefix}Port"],
                part[f"{prefix}UseSSL"], part[f"{prefix}Username"]) \
            == ("mail.example.test", 443, True, ALICE)
    uuids = [top["PayloadUUID"]] + [p["PayloadUUID"] for p in top["PayloadContent"]]
    assert len(set(uuids)) == 4
    # The same profile again: the same identifiers, so it replaces the first.
    assert plistlib.loads(request(dav, "GET", "/mailsuite.mobileconfig")[2]) == top
    assert PASSWORD not in body.decode() and "IncomingPassword" not in mail
    bob = plistlib.loads(request(dav, "GET", "/mailsuite.mobileconfig", user=BOB)[2])
    assert bob["PayloadContent"][0]["EmailAddress"] == BOB
