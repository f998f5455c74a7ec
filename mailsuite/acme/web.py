"""acmed's port-80 application (WSGI): HTTP-01 tokens, and a redirect for the rest.

GET /.well-known/acme-challenge/<token> answers the key authorization that the
order wrote to the tokens directory (RFC 8555 8.3), as text/plain; a token that is
not there, or not a token, is a 404. Every other request is redirected to the same
path over HTTPS (301), to the host it named when that is a host name, else to
server.hostname, so nothing is ever served in clear text.
"""

import re
from urllib.parse import quote

PREFIX = "/.well-known/acme-challenge/"
# RFC 8555 8.1: a token is base64url, with no padding.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
HOST_PORT = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::[0-9]{1,5})?")


def application(tokens_dir, hostname):
    """The WSGI callable serving `tokens_dir` and redirecting to `hostname`."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path.startswith(PREFIX):
            return _token(tokens_dir, path[len(PREFIX):], start_response)
        return _redirect(environ, path, hostname, start_response)

    return app


def _token(tokens_dir, token, start_response):
    body = None
    if TOKEN.fullmatch(token):
        try:
            body = (tokens_dir / token).read_bytes()
        except OSError:
            pass
    if body is None:
        return _reply(start_response, "404 Not Found", b"no such token\n")
    return _reply(start_response, "200 OK", body)


def _redirect(environ, path, hostname, start_response):
    named = HOST_PORT.fullmatch(environ.get("HTTP_HOST", ""))
    host = named.group(1) if named else hostname
    # WSGI (PEP 3333) hands the path decoded, as latin-1 text: encode it again.
    target = "https://" + host + quote(path.encode("latin-1", "replace"), safe="/")
    query = environ.get("QUERY_STRING", "")
    if query:
        target += "?" + quote(query, safe="=&;%+")
    return _reply(start_response, "301 Moved Permanently", b"", [("Location", target)])


def _reply(start_response, status, body, headers=()):
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]
