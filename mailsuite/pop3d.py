"""pop3d: POP3 (RFC 1939) over the same Maildir store as imapd.

Sockets: `pop3` (110; STLS) and `pop3s` (995; implicit TLS, RFC 8314). The protocol
lives in mailsuite.pop3; mailboxes are opened through the core's mailbox service
(core.mailservice: the event loop never waits on a disk) and users logged in
through core.login, the same policy, limits and auth cache as imapd's. A mailbox
has one POP3 session at a time across all processes (mailsuite.pop3.lock), while
IMAP sessions may stay open beside it; what POP3 deletes is expunged at QUIT, so
IMAP sees it go.

Failure policy: a client's error is an -ERR and the session goes on, up to
pop3d.max_errors; a session's bug is logged with its traceback and answered
-ERR [SYS/TEMP]; a session that ends without QUIT deletes nothing. At SIGTERM the
sessions waiting for a command are ended at once (-ERR [SYS/TEMP]), the others
after their command.
"""

import functools
import sys

from .core import accounts, login, server, tls
from .core.mailservice import MailService
from .pop3 import session
from .pop3.replies import err


def main(argv=None):
    return server.main("pop3d", {"pop3", "pop3s"}, start, argv)


async def start(cfg, sockets):
    try:
        ctx = Context(cfg)
    except accounts.AccountError as exc:
        sys.exit(f"mail-pop3d: {exc}")
    srv = server.Server(functools.partial(session.serve, ctx),
                        credentials=ctx.credentials, implicit_tls={"pop3s"},
                        idle_exit=cfg.server.idle_exit, on_stop=ctx.shutdown,
                        limits=limits(cfg))
    try:
        await srv.serve(sockets)
    finally:
        ctx.close()


def limits(cfg):
    # RFC 3206 4: SYS/TEMP, the client may try again later.
    refusal = err("too many connections, try again later", "SYS/TEMP")
    return server.Limits(cfg.pop3d.max_sessions, cfg.pop3d.max_sessions_per_address,
                         refusal)


class Context:
    """What all sessions of the process share."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.credentials = tls.from_config(cfg)
        self.accounts = accounts.Accounts(cfg.state_dir)
        self.login = login.Login(cfg.login, self.accounts)
        self.mail = MailService()
        self.sessions = set()
        self.stopping = False

    def shutdown(self):
        """End the sessions waiting for a command now; a busy one finishes its
        command first, then sees `stopping`. Neither deletes anything."""
        self.stopping = True
        for s in self.sessions:
            if s.waiting:
                s.end_reason = "server shutting down"
                s.stream.write(bytes(s.out) + err("server shutting down", "SYS/TEMP"))
                s.out.clear()
                s.stream.close()
                # A TLS close waits for the client's close_notify; do not.
                s.task.cancel()

    def close(self):
        self.mail.close()
        self.accounts.close()


if __name__ == "__main__":
    raise SystemExit(main())
