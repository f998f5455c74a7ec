"""What the sessions of one SMTP daemon (smtpd, submitd) share: the configuration,
the TLS credentials, the accounts, the queue, deliverd's wake-up socket and the
server with its session limits, taken from the daemon's configuration section."""

from ..core import notify, recipients, server, tls
from ..core.accounts import Accounts
from ..core.spool import Spool
from .errors import ProtocolError
from .incoming import Incoming


class Service:
    section = "smtpd"

    def __init__(self, cfg, implicit_tls=()):
        self.cfg = cfg
        self.credentials = tls.from_config(cfg)
        self.accounts = Accounts(cfg.state_dir)
        self.spool = Spool(cfg.state_dir)
        self.wakeup = cfg.runtime_dir / "deliverd.wakeup"
        self.server = server.Server(self.session, credentials=self.credentials,
                                    implicit_tls=implicit_tls,
                                    idle_exit=cfg.server.idle_exit,
                                    limits=limits(cfg, self.section))

    async def session(self, stream, name):
        raise NotImplementedError

    def incoming(self, session, envelope):
        """Where a session's message goes: the queue. Alone, the commit runs in
        the session's own thread (core.spool.Spool.enqueue)."""
        return Incoming(session, envelope, self.spool,
                        alone=self.server.sessions() == 1)

    def local_targets(self, path):
        """The mailboxes a recipient of a local domain reaches (aliases,
        plus-addressing and catch-alls resolved); 550 5.1.1 when nobody takes it
        (RFC 5321 4.2.2)."""
        found = recipients.look_up(self.accounts, f"{path.local}@{path.domain}",
                                   self.cfg.smtpd.recipient_delimiter).targets
        if not found:
            raise unknown_user(path)
        return found

    def wake_deliverd(self):
        # A hint: a lost one delays delivery until deliverd's next scan.
        notify.send(self.wakeup)


def unknown_user(path):
    # RFC 5321 4.2.2 (550: mailbox unavailable), RFC 3463 3.2 (5.1.1: bad
    # destination mailbox address).
    return ProtocolError(550, "5.1.1", f"<{path}>: user unknown")


def limits(cfg, section):
    """The server's session limits from the daemon's section."""
    # RFC 5321 3.8: a server that cannot serve a client says 421 and closes; the
    # client keeps its mail and tries again later.
    refusal = f"421 4.7.0 {cfg.server.hostname} too many connections, try again later"
    settings = getattr(cfg, section)
    return server.Limits(settings.max_sessions, settings.max_sessions_per_address,
                         refusal.encode() + b"\r\n")
