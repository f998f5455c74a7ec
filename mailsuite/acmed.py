"""acmed: the TLS certificate from an ACME CA (RFC 8555), and port 80.

Socket: `http` (80). Every start (a request on port 80, or mail-acmed.timer once
a day) checks the certificate of tls.cert in the background, and again every day
while acmed runs (requests may keep it from its idle exit, and the timer does not
start a service that runs), and orders a new one when it is due
(mailsuite.acme.renew); meanwhile port 80 answers the CA's HTTP-01
requests from the tokens directory and redirects everything else to HTTPS
(mailsuite.acme.web), through the suite's HTTP server (core.http). The other
daemons pick up a new certificate at their next handshake (core.tls).

Failure policy: a failed renewal is logged with the CA's problem document and
retried after a back-off (acme.status); the certificate in use stays. A client's
bad request is a 4xx and the daemon serves on.
"""

import asyncio
import logging

from .acme import order, renew, web
from .core import http, server

log = logging.getLogger("acmed")
CHECK_INTERVAL = 86400      # seconds between two checks of a long-running acmed
# Port 80 faces the internet and serves short answers: a CA validates each name
# from a few vantage points with a connection or two each, so these limits leave
# it room and keep a flood of idle connections from holding descriptors.
SESSIONS = server.Limits(200, 20, b"HTTP/1.1 503 Service Unavailable\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
REQUESTS = http.Limits(body=0, head_timeout=10, idle_timeout=10, requests=20)


def main(argv=None):
    return server.main("acmed", {"http"}, start, argv)


async def start(cfg, sockets):
    app = web.application(order.challenge_dir(cfg), cfg.server.hostname)
    front = http.Server(app, REQUESTS, "acmed")
    srv = server.Server(front.session, idle_exit=cfg.server.idle_exit, limits=SESSIONS)
    background = [check_daily(cfg)] if cfg.acmed.enabled else []
    await srv.serve(sockets, background)


async def check_daily(cfg):
    while True:
        await check(cfg)
        await asyncio.sleep(CHECK_INTERVAL)


async def check(cfg):
    """One renewal check, off the event loop (python3-acme blocks)."""
    loop = asyncio.get_running_loop()
    try:
        outcome = await loop.run_in_executor(None, renew.check, cfg)
    except order.OrderFailed:
        return                  # logged, with the next attempt, by renew.check
    except OSError as exc:      # the state dir, tls.cert's folder
        log.error("acme: cannot renew: %s", exc)
        return
    except Exception:
        log.exception("acme: the renewal check failed")
        return
    log.info("acme: %s", outcome.message)


if __name__ == "__main__":
    raise SystemExit(main())
