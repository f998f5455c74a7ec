"""davd: CalDAV/CardDAV through Radicale over HTTPS with the mail login, the path
checks, the users kept apart, and hostile HTTP answered without harm."""

import base64
import socket
import ssl

import pytest

from harness import Instance

ALICE, BOB = "alice@example.test", "bob@example.test"
PASSWORD = "secret-password"


@pytest.fixture(scope="module")
def dav(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("davd"), extra_config=(
        "[davd]\nidle_timeout = 5\nmax_request_body = 100000\n"
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


def test_smoke(dav):
    status, fields, body = request(dav, "PROPFIND", f"/{ALICE}/", headers="Depth: 1\r\n")
    print(status, fields, body[:2000])
    assert status == 207
