"""davd: calendars and contacts (CalDAV, CardDAV) over HTTPS, with the mail login.

Socket: `https` (443; implicit TLS through core.tls, so a renewed certificate is
used at the next connection). HTTP is core.http; in front of the applications,
dav.gate checks the path and logs the user in through core.login (the one
policy, limits and auth cache of every daemon); Radicale (dav.backend) serves
the collections from STATE/dav/; dav.autoconfig answers mail clients that
configure themselves (Thunderbird, Outlook); mailsuite.status serves /health
and /metrics to loopback clients or a bearer token. These are served without a
login (their own checks are theirs). A logged-in user may download an Apple
configuration profile (dav.mobileconfig); every other path is Radicale's.

Failure policy: a bad request is a 4xx and the connection closes; a failed
login is a 401 after core.login's delay; an application's bug is a 500 and a
traceback, and the daemon serves on.
"""

import sys

from .core import accounts, http, login, server, tls
from .dav import autoconfig, backend, mobileconfig
from .dav.gate import Gate
from .status.app import HealthApp, MetricsApp


def main(argv=None):
    return server.main("davd", {"https"}, start, argv)


async def start(cfg, sockets):
    try:
        users = accounts.Accounts(cfg.state_dir)
    except accounts.AccountError as exc:
        sys.exit(f"mail-davd: {exc}")
    dav = backend.build(cfg, backend.new_ticket())
    public = autoconfig.routes(cfg.server.hostname, users) + [
        ("/health", HealthApp(cfg)), ("/metrics", MetricsApp(cfg))]
    logged_in = [(mobileconfig.PATH, mobileconfig.app(cfg.server.hostname))]
    gate = Gate(login.Login(cfg.login, users),
                lambda user: backend.ensure_collections(dav.storage, user),
                public=[prefix for prefix, _ in public])
    web = http.Server(http.routes(public + logged_in, backend.guarded(dav.app)),
                      limits(cfg), "davd", gate=gate)
    srv = server.Server(web.session, credentials=tls.from_config(cfg),
                        implicit_tls={"https"}, idle_exit=cfg.server.idle_exit,
                        on_stop=web.stop, limits=sessions(cfg))
    try:
        await srv.serve(sockets)
    finally:
        web.executor.shutdown(wait=False, cancel_futures=True)
        users.close()


def limits(cfg):
    return http.Limits(body=cfg.davd.max_request_body,
                       head_timeout=cfg.davd.request_timeout,
                       body_timeout=cfg.davd.body_timeout,
                       idle_timeout=cfg.davd.idle_timeout)


def sessions(cfg):
    # RFC 9110 15.6.4: 503, the client may try again later.
    refusal = http.error_response(503, "too many connections, try again later")
    return server.Limits(cfg.davd.max_sessions, cfg.davd.max_sessions_per_address,
                         refusal)


if __name__ == "__main__":
    raise SystemExit(main())
