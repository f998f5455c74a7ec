"""The suite's HTTP/1.1 server (RFC 9112) for WSGI applications (PEP 3333).

It runs inside the daemon skeleton: `Server(app, limits, log_name).session` is the
session core.server runs for each accepted connection, so the activated sockets,
the accept limits, TLS through core.tls (a renewed certificate is used at the next
connection) and the log are those of every other daemon; a listener outside the
daemon's implicit-TLS set speaks plain HTTP (acmed's port 80).

A connection serves requests one after the other (keep-alive) until the client
closes, stays idle `idle_timeout`, or has sent `requests`. Each request's head and
body are read on the event loop within `Limits` (core.httprequest); the application
then runs in a worker thread with the whole body at hand, and what it yields goes
to the client as it comes (Content-Length if the application gave one, else
chunked), each chunk within `send_timeout`.

Failure policy: a request out of the limits or malformed is answered with its 4xx
(408 for a slow client) and the connection closed, in one log line; the daemon
serves on. An application that raises is a bug: a traceback, a 500 if nothing was
sent yet, and the connection closed.
"""

import asyncio
import concurrent.futures
import email.utils
import logging
import sys
from urllib.parse import unquote_to_bytes, urlsplit

from . import server
from .httprequest import Head, HttpError, Limits, read_body, read_head
from .stream import StreamClosed

__all__ = ["Server", "Limits", "Head", "HttpError", "routes", "reason"]

WORKERS = 8             # application threads per process
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
              "upgrade", "proxy-connection"}
REASONS = {400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
           411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 505: "HTTP Version Not Supported"}


def reason(status):
    return REASONS.get(status, "Error")


class Server:
    def __init__(self, app, limits=Limits(), log_name="http", workers=WORKERS):
        self.app = app
        self.limits = limits
        self.log = logging.getLogger(log_name)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix=log_name)

    async def session(self, stream, name):
        """Serve one connection's requests; `name` is its listener's."""
        for _ in range(self.limits.requests):
            try:
                head = await read_head(stream, self.limits)
            except HttpError as exc:
                await self._refuse(stream, exc)
                return
            if head is None or not await self._exchange(stream, head, name):
                return

    async def _exchange(self, stream, head, name):
        """One request and its response; whether the connection may go on."""
        try:
            _continue(stream, head)
            body = await read_body(stream, head, self.limits)
        except HttpError as exc:
            await self._refuse(stream, exc, head)
            return False
        try:
            environ = self.environ(stream, head, body, name)
            response = Response(stream, head, self.limits)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.executor, self._run_app, environ, response)
        except HttpError as exc:
            await self._refuse(stream, exc, head)
            return False
        finally:
            body.close()
        self.log.info("%s %s %s %d %d", server.peer_ip(stream) or "-", head.method,
                      head.target, response.status_code, response.sent)
        return response.keep_alive and not response.failed

    def _run_app(self, environ, response):
        """In a worker thread: call the application, stream out what it yields."""
        result = None
        try:
            result = self.app(environ, response.start_response)
            for data in result:
                response.write(data)
            response.finish()
        except (StreamClosed, ConnectionError, TimeoutError):
            response.failed = True
        except Exception:
            self.log.exception("%s %s failed", environ["REQUEST_METHOD"],
                               environ["REQUEST_URI"])
            response.fail()
        finally:
            if hasattr(result, "close"):
                result.close()

    async def _refuse(self, stream, exc, head=None):
        self.log.info("%s: %d %s%s", server.peer_ip(stream) or "-", exc.status,
                      exc.text, f" ({head.method} {head.target})" if head else "")
        stream.write(error_response(exc.status, exc.text))
        try:
            await asyncio.wait_for(stream.drain(), self.limits.send_timeout)
        except (StreamClosed, TimeoutError):
            pass

    def environ(self, stream, head, body, name):
        """The WSGI environ of a request (PEP 3333)."""
        path, query = split_target(head)
        host, port = _local_address(stream)
        env = {
            "REQUEST_METHOD": head.method, "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query, "REQUEST_URI": head.target,
            "SERVER_NAME": host, "SERVER_PORT": port,
            "SERVER_PROTOCOL": "HTTP/%d.%d" % head.version,
            "REMOTE_ADDR": server.peer_ip(stream), "mailsuite.listener": name,
            "wsgi.version": (1, 0), "wsgi.url_scheme": "https" if stream.tls else "http",
            "wsgi.input": body.reader(), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if body.size or head.get("transfer-encoding"):
            env["CONTENT_LENGTH"] = str(body.size)
        for field, value in head.fields:
            # A name with "_" would pass for another once in the environ
            # (X-Remote_User as X-Remote-User): such fields are dropped.
            if "_" in field or field in ("content-length", "transfer-encoding"):
                continue
            key = field.upper().replace("-", "_")
            key = key if key == "CONTENT_TYPE" else "HTTP_" + key
            env[key] = f"{env[key]}, {value}" if key in env else value
        return env


def split_target(head):
    """(path, query) of the request target (RFC 9112 3.2)."""
    target = head.target
    if target == "*" and head.method == "OPTIONS":
        return "*", ""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    if not target.startswith("/"):
        raise HttpError(400, "malformed request target")
    path, _, query = target.partition("?")
    return path, query


def _local_address(stream):
    sock = stream.transport.get_extra_info("sockname") if stream.transport else None
    if isinstance(sock, tuple):
        return str(sock[0]), str(sock[1])
    return "localhost", "0"


def _continue(stream, head):
    # RFC 9110 10.1.1: a client that expects 100-continue waits for it before
    # the body; a body too large is refused by read_body before any of it comes.
    if head.get("expect", "").lower() == "100-continue" and head.version >= (1, 1):
        if head.get("content-length", "0").strip() != "0" or head.get("transfer-encoding"):
            stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def error_response(status, text):
    body = (text + "\n").encode("utf-8")
    return (f"HTTP/1.1 {status} {reason(status)}\r\nDate: {_date()}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode("ascii") + body


def _date():
    return email.utils.formatdate(usegmt=True)


class Response:
    """The worker thread's side of a response: start_response, and the bytes
    written through the event loop, each within send_timeout."""

    def __init__(self, stream, head, limits):
        self.stream = stream
        self.head = head
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.status = None
        self.headers = None
        self.status_code = 0
        self.started = False
        self.chunked = False
        self.length = None      # Content-Length the application gave
        self.sent = 0           # body bytes sent
        self.failed = False
        self.keep_alive = _wants_keep_alive(head)

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, headers
        self.status_code = int(status.split(" ", 1)[0])
        return self.write

    def write(self, data):
        if self.status is None:
            raise RuntimeError("write() before start_response()")
        if not self.started:
            self._send_head()
        if not data or self.head.method == "HEAD" or not self._has_body():
            return
        if self.length is not None:
            data = data[:max(0, self.length - self.sent)]
        self.sent += len(data)
        self._send(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def finish(self):
        if not self.started:
            self._send_head()
        if self.chunked:
            self._send(b"0\r\n\r\n")
        elif self.length is not None and self.sent < self.length \
                and self.head.method != "HEAD" and self._has_body():
            self.failed = True  # the client would wait for the missing bytes

    def fail(self):
        """The application raised: a 500 if nothing went out yet."""
        self.failed = True
        self.status_code = 500
        if not self.started:
            self.started = True
            self._send(error_response(500, "internal error"), or_fail=False)

    def _has_body(self):
        # RFC 9110 6.4.1: 1xx, 204 and 304 responses have no content.
        return not (self.status_code < 200 or self.status_code in (204, 304))

    def _send_head(self):
        self.started = True
        lines = [f"HTTP/1.1 {self.status}", f"Date: {_date()}"]
        for name, value in self.headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or lower == "date":
                continue
            if lower == "content-length":
                self.length = int(value)
            lines.append(f"{name}: {value}")
        if self.length is None and self._has_body() and self.head.method != "HEAD":
            if self.head.version >= (1, 1):
                self.chunked = True
                lines.append("Transfer-Encoding: chunked")
            else:
                self.keep_alive = False     # the close ends the body
        if not self.keep_alive:
            lines.append("Connection: close")
        elif self.head.version < (1, 1):
            lines.append("Connection: keep-alive")
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _send(self, data, or_fail=True):
        future = asyncio.run_coroutine_threadsafe(self._write(data), self.loop)
        try:
            future.result()
        except Exception:
            if or_fail:
                raise

    async def _write(self, data):
        self.stream.write(data)
        try:
            await asyncio.wait_for(self.stream.drain(), self.limits.send_timeout)
        except TimeoutError:
            self.stream.abort()
            raise


def _wants_keep_alive(head):
    options = {o.strip().lower() for o in head.get("connection", "").split(",")}
    if head.version >= (1, 1):
        return "close" not in options
    return "keep-alive" in options


def routes(table, default):
    """A WSGI application sending each request to the first application in
    `table` [(path prefix, app)] whose prefix starts its path, else `default`.
    A prefix matches a whole segment ("/health" not "/healthy")."""
    def app(environ, start_response):
        path = environ["PATH_INFO"]
        for prefix, target in table:
            prefix = prefix.rstrip("/")
            if path == prefix or path.startswith(prefix + "/"):
                return target(environ, start_response)
        return default(environ, start_response)
    return app
