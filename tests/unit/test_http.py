"""core.http over raw loopback sockets: framing, keep-alive, the limits, WSGI."""

import asyncio
import socket
import threading

import pytest

from mailsuite.core import http
from mailsuite.core.stream import Stream

LIMITS = http.Limits(request_line=200, header_line=200, headers=10, header_bytes=1000,
                     body=1000, head_timeout=0.5, body_timeout=0.5, idle_timeout=5,
                     send_timeout=5, requests=3)


def echo(environ, start_response):
    """Answers the method, path and body it got."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("a bug in the application")
    out = b"%s %s %s" % (environ["REQUEST_METHOD"].encode(),
                         environ["PATH_INFO"].encode("latin-1"), body)
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one", b"", b"two"]
    start_response("200 OK", [("Content-Length", str(len(out)))])
    return [out]


class Running:
    """core.http.Server on a loopback listener, its loop in a thread."""

    def __init__(self, app, limits):
        self.http = http.Server(app, limits, "test-http")
        self.loop = asyncio.new_event_loop()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        session = self.http.session

        class Connection(Stream):
            def connection_made(self, transport):
                super().connection_made(transport)
                asyncio.ensure_future(self._serve())

            async def _serve(self):
                try:
                    await session(self, "http")
                finally:
                    self.close()

        server = self.loop.run_until_complete(
            self.loop.create_server(Connection, sock=self.listener))
        ready.set()
        self.loop.run_forever()
        server.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock


@pytest.fixture(scope="module")
def srv():
    running = Running(echo, LIMITS)
    yield running
    running.stop()


def read_response(sock):
    """(status, headers dict, body) of one response; body by its framing."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError(f"closed after {buf!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(rest) < size:
            rest += sock.recv(4096)
        return status, headers, rest[:size]
    if headers.get("transfer-encoding") == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(4096)
        return status, headers, dechunk(rest)
    while data := sock.recv(4096):      # the close ends the body
        rest += data
    return status, headers, rest


def dechunk(data):
    out = b""
    while True:
        size, _, data = data.partition(b"\r\n")
        size = int(size, 16)
        if not size:
            return out
        out, data = out + data[:size], data[size + 2:]


def closed(sock):
    """Whether the server closed the connection (it sends nothing more)."""
    return sock.recv(1) == b""


def exchange(srv, raw):
    with srv.connect() as sock:
        sock.sendall(raw)
        return read_response(sock), closed(sock)


def test_requests_with_bodies_on_one_connection(srv):
    with srv.connect() as sock:
        sock.sendall(b"PUT /a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")
        status, headers, body = read_response(sock)
        assert (status, body) == (200, b"PUT /a b hello")
        assert "date" in headers and "connection" not in headers
        assert read_response(sock)[::2] == (200, b"POST /c abcde")


def test_connection_ends_after_the_request_limit(srv):
    with srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n" * 4)
        for _ in range(LIMITS.requests):
            assert read_response(sock)[0] == 200
        assert closed(sock)


def test_response_without_length_is_chunked_and_http10_closes(srv):
    (status, headers, body), _ = exchange(srv, b"GET /stream HTTP/1.1\r\n\r\n"
                                          b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert headers["transfer-encoding"] == "chunked" and body == b"onetwo"
    (status, headers, body), was_closed = exchange(srv, b"GET /stream HTTP/1.0\r\n\r\n")
    assert body == b"onetwo" and headers["connection"] == "close" and was_closed


def test_head_has_no_body(srv):
    with srv.connect() as sock:
        sock.sendall(b"HEAD /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n")
        status, headers, _ = read_response_head(sock)
        assert headers["content-length"] == "8"
        assert read_response(sock)[2] == b"GET /y "


def read_response_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(1)
    lines = buf.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), {k.lower(): v.strip() for k, _, v in
                                      (l.partition(":") for l in lines[1:] if l)}, b""


@pytest.mark.parametrize("raw, status", [
    (b"GET /" + b"x" * 300 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX: " + b"y" * 300 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 11 + b"\r\n", 431),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET  / HTTP/1.1\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET x HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Name: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    (b"PUT / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413),
    (b"PUT / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400),
    (b"PUT / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
    (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"100\r\n"
     + b"a" * 256 + b"\r\n" + b"300\r\n" + b"a" * 768 + b"\r\n", 413),
])
def test_bad_request_is_refused_and_closed(srv, raw, status):
    (got, headers, body), was_closed = exchange(srv, raw)
    assert got == status and headers["connection"] == "close" and body
    assert was_closed


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: x\r\n",                      # the head never ends
    b"PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",      # nor the body
    b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
])
def test_slow_client_gets_408(srv, raw):
    (status, headers, _), was_closed = exchange(srv, raw)
    assert status == 408 and was_closed


def test_idle_client_is_closed_without_answer():
    running = Running(echo, LIMITS._replace(idle_timeout=0.2))
    try:
        with running.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert read_response(sock)[0] == 200
            assert closed(sock)
    finally:
        running.stop()


def test_application_bug_is_a_500_and_a_traceback(srv, caplog):
    (status, _, body), was_closed = exchange(srv, b"GET /boom HTTP/1.1\r\n\r\n")
    assert status == 500 and was_closed
    assert "a bug in the application" in caplog.text
    assert exchange(srv, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")[0][0] == 200


def test_big_body_spills_to_a_file():
    limits = LIMITS._replace(body=3 << 20, body_timeout=30)
    running = Running(echo, limits)
    data = bytes(range(256)) * (8 << 10)        # 2 MiB
    try:
        (status, _, body), _ = exchange(
            running, b"PUT /f HTTP/1.1\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        assert status == 200 and body == b"PUT /f " + data
    finally:
        running.stop()


def test_expect_continue_is_answered_before_the_body(srv):
    with srv.connect() as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        assert read_response(sock)[2] == b"PUT / ok"


def test_environ_drops_fields_with_underscores():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    running = Running(app, LIMITS)
    try:
        exchange(running, b"GET /p?q=1 HTTP/1.1\r\nX-Remote_User: a\r\nX-Remote-User: b"
                 b"\r\nX-A: 1\r\nX-A: 2\r\nConnection: close\r\n\r\n")
    finally:
        running.stop()
    assert seen["HTTP_X_REMOTE_USER"] == "b" and seen["HTTP_X_A"] == "1, 2"
    assert seen["QUERY_STRING"] == "q=1" and seen["PATH_INFO"] == "/p"
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["wsgi.url_scheme"] == "http"


def test_routes_match_whole_segments():
    def named(name):
        def app(environ, start_response):
            return name
        return app
    app = http.routes([("/health", named("health")), ("/metrics/", named("metrics"))],
                      named("dav"))
    for path, name in [("/health", "health"), ("/health/x", "health"),
                       ("/healthy", "dav"), ("/metrics", "metrics"), ("/", "dav")]:
        assert app({"PATH_INFO": path}, None) == name
