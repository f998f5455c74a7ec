"""mailsuite.acme.web: acmed's port-80 application, called as a WSGI server would."""

import pytest

from mailsuite.acme import web

HOST = "mail.example.test"


def call(app, path, host=None, query=""):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query}
    if host is not None:
        environ["HTTP_HOST"] = host
    reply = {}

    def start_response(status, headers):
        reply["status"], reply["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return reply["status"], reply["headers"], body


@pytest.fixture
def app(tmp_path):
    (tmp_path / "tok-EN_1").write_bytes(b"tok-EN_1.thumbprint")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_bytes(b"private")
    return web.application(tmp_path, HOST)


def test_a_token_is_answered_with_its_key_authorization(app):
    status, headers, body = call(app, "/.well-known/acme-challenge/tok-EN_1")
    assert status == "200 OK"
    assert body == b"tok-EN_1.thumbprint"
    assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("token", ["missing", "", "../secret/key", "secret%2Fkey",
                                   "a.b", "x" * 300])
def test_anything_else_under_the_challenge_path_is_404(app, token):
    status, _, body = call(app, "/.well-known/acme-challenge/" + token)
    assert status == "404 Not Found"
    assert b"private" not in body


def test_other_requests_go_to_https_on_the_host_they_named(app):
    status, headers, _ = call(app, "/some where/ä", host="autoconfig.example.test:80",
                              query="a=1&b=2")
    assert status == "301 Moved Permanently"
    assert headers["Location"] == \
        "https://autoconfig.example.test/some%20where/%E4?a=1&b=2"


@pytest.mark.parametrize("host", [None, "", "evil.test\r\nSet-Cookie: x=1",
                                  "[::1]:80", "a_b.test", "-bad.test"])
def test_a_missing_or_odd_host_redirects_to_the_hostname(app, host):
    _, headers, _ = call(app, "/", host=host)
    assert headers["Location"] == f"https://{HOST}/"
