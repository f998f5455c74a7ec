"""davd's /health and /metrics, as WSGI applications.

    HealthApp(cfg), MetricsApp(cfg)      # WSGI callables

/health answers 200 when every check of status.health passes, else 503, with the
report as a JSON body. /metrics is the Prometheus text format: the counters every
daemon keeps (core.metrics, added up across processes) and the queue's depth and
age, read at each scrape. Both answer only a client on loopback, or one that sends
`Authorization: Bearer TOKEN` with `[health] token`; others get 403 (the token
compared in constant time). Only GET and HEAD.
"""

import hmac
import ipaddress
import json
import time

from ..core import metrics
from . import health

JSON = "application/json"


class StatusApp:
    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed",
                           b'{"error": "GET only"}\n', JSON, [("Allow", "GET, HEAD")])
        if not allowed(environ, self.cfg.health.token):
            return _answer(start_response, "403 Forbidden",
                           b'{"error": "only from loopback or with the token"}\n', JSON)
        status, body, content_type = self.page()
        answer = _answer(start_response, status, body, content_type)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else answer


class HealthApp(StatusApp):
    def page(self):
        found = health.report(self.cfg)
        body = json.dumps({"status": "ok" if found.ok else "failing",
                           "checks": found.checks}, indent=2).encode() + b"\n"
        return ("200 OK" if found.ok else "503 Service Unavailable"), body, JSON


class MetricsApp(StatusApp):
    def page(self):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        registry = metrics.registry(self.cfg)
        registry.register(QueueCollector(self.cfg))
        return "200 OK", generate_latest(registry), CONTENT_TYPE_LATEST


class QueueCollector:
    """The queue as gauges, read when scraped."""

    def __init__(self, cfg):
        self.cfg = cfg

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        found = health.queue(self.cfg.state_dir, time.time())
        if not found["ok"]:
            return
        yield GaugeMetricFamily("mailsuite_queue_messages",
                                "Messages in the queue.", value=found["messages"])
        yield GaugeMetricFamily("mailsuite_queue_oldest_seconds",
                                "Age of the oldest message in the queue.",
                                value=found["oldest_seconds"])


def allowed(environ, token):
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped       # ::ffff:127.0.0.1 on a dual-stack socket
    if address is not None and address.is_loopback:
        return True
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and \
        hmac.compare_digest(given.strip().encode(), token.encode())


def _answer(start_response, status, body, content_type, extra=()):
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *extra])
    return [body]
