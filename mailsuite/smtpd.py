"""smtpd: the MX. Receives mail for local domains and puts it in the queue.

Sockets: `smtp` (port 25). Accepts a recipient only if it is a user, alias or
catch-all of a local domain; everything else is relaying and is refused. A recipient
whose mailboxes are all full already (their quota reached) is refused at RCPT, so
that the sender keeps the message rather than getting a bounce later. A message
gets its 250 only once it is durable in the spool; deliverd is then woken with a
hint (a lost hint delays delivery until deliverd's next scan, never loses mail).

Sender authentication (mailsuite.smtp.mailauth, `[mailauth]`): SPF starts at MAIL;
at the end of the data DKIM, ARC and DMARC are checked, the Authentication-Results
field goes on top of the message (fields a client wrote in our name are removed
as the header arrives), and a DMARC failure is acted on: p=reject is refused with
550 5.7.1 (the message is not queued), p=quarantine is queued with the folder
deliverd puts it in (`info["folder"]`).

The defences (mailsuite.smtp.defences, decision 0019): the connection rate and the
early-talker pause before the greeting, reverse DNS and the HELO name recorded at
HELO, DNSBLs and greylisting at RCPT once the recipient is known, and rspamd's
verdict at the end of the data (reject, defer, or the junk folder).
"""

import asyncio
import logging

from .core import mailquota, recipients, server
from .core.maildir import usage_of
from .smtp import defences, service
from .smtp.defences import rspamd
from .smtp.errors import ProtocolError
from .smtp.mailauth import MailAuth
from .smtp.mailauth.dmarc import NoSingleFrom
from .smtp.session import Session

log = logging.getLogger("smtpd")


class MXSession(Session):
    def __init__(self, stream, service):
        self.service = service
        self.auth_check = None      # the sender checks of the transaction
        self.folder = None          # where deliverd puts the message, if not INBOX
        self.received = b""         # the Received field, held for the checks
        super().__init__(stream, service.cfg, service.credentials, "smtp")
        self.client = service.defences.client(self.client_ip)

    async def run(self):
        try:
            await super().run()
        finally:
            self.client.close()

    async def before_greeting(self):
        await self.client.connect(self.stream)

    async def check_helo(self, name):
        await self.client.hello(name)
        self.client_name = self.client.received_name

    async def check_sender(self, path, params):
        if self.service.mailauth is not None:
            self._cancel_checks()
            self.auth_check = self.service.mailauth.start(
                self.client_ip, self.helo, "" if path.null else str(path))

    def reset(self):
        super().reset()
        self._cancel_checks()

    def _cancel_checks(self):
        if self.auth_check is not None:
            self.auth_check.cancel()
            self.auth_check = None

    def filter_head(self, head):
        if self.service.mailauth is not None:
            head = self.service.mailauth.strip_ours(head)
        if self.service.rspamd is not None:
            head = rspamd.strip_verdicts(head)
        return head

    def top_fields(self, qid, envelope, head):
        if self.service.mailauth is None:
            return super().top_fields(qid, envelope, head)
        # Written with the Authentication-Results field once the checks are
        # done: this hop's trace, Received first, as Postfix with a milter.
        self.received = super().top_fields(qid, envelope, head)
        return b""

    async def before_queue(self, incoming):
        # The sender checks first: rspamd is shown their Authentication-Results.
        self.folder = None
        if self.service.mailauth is not None:
            await self._authenticate(incoming)
        if self.service.rspamd is not None:
            judged = await rspamd.judge(self.service.rspamd, self, incoming)
            self.folder = judged or self.folder

    async def _authenticate(self, incoming):
        check, self.auth_check = self.auth_check, None
        received, self.received = self.received, b""
        if check is None:
            await incoming.prepend(received)
            return
        try:
            verdict = await check.finish(incoming)
        except NoSingleFrom as exc:
            # RFC 7489 6.6.1: no single author domain, no policy to check.
            check.cancel()
            raise ProtocolError(550, "5.7.1", f"message refused: {exc}",
                                counted=False)
        await incoming.prepend(received + self.service.mailauth.field(verdict))
        self._apply_policy(verdict.dmarc)

    def _apply_policy(self, dmarc):
        """RFC 7489 6.7: the disposition the sender domain asks for."""
        settings = self.cfg.mailauth
        if not settings.enforce:
            return
        if dmarc.disposition == "reject":
            raise ProtocolError(550, "5.7.1", f"message refused: DMARC policy of "
                                f"{dmarc.domain} (RFC 7489)", counted=False)
        if dmarc.disposition == "quarantine":
            self.folder = settings.quarantine_folder

    async def check_recipient(self, path):
        accounts = self.service.accounts
        # Every way of naming another host is relaying: IP literals, non-local
        # domains, and local parts that route onward (user%host, host!user,
        # "user@host") which some MTAs would forward (RFC 5321 3.6.1, 3.6.2).
        if path.literal or not accounts.is_local_domain(path.domain):
            raise ProtocolError(554, "5.7.1", f"<{path}>: relay denied")
        if any(ch in path.local for ch in "%!@"):
            raise ProtocolError(554, "5.7.1", f"<{path}>: relay denied")
        # Known or not, a recipient takes the same way through the same reads,
        # off the event loop, and is answered after it: a refusal comes no
        # sooner than an acceptance.
        loop = asyncio.get_running_loop()
        found, full = await loop.run_in_executor(
            None, look_up, accounts, f"{path.local}@{path.domain}",
            self.cfg.smtpd.recipient_delimiter)
        if not found:
            raise service.unknown_user(path)
        if full:
            # RFC 5321 4.2.2 (552: exceeded storage allocation), RFC 3463 3.3
            # (5.2.2: mailbox full). Not the client's mistake: not counted.
            raise ProtocolError(552, "5.2.2", f"<{path}>: mailbox full",
                                counted=False)
        await self.client.blocklisted(path)
        await self.client.greylist(self.envelope.sender, path)

    async def postmaster_domain(self):
        """The server's own name when it is a local domain, else the nearest local
        domain above it (mail.example.org -> example.org), else the first one."""
        accounts = self.service.accounts
        labels = self.hostname.lower().split(".")
        for start in range(len(labels) - 1):
            domain = ".".join(labels[start:])
            if accounts.is_local_domain(domain):
                return domain
        domains = accounts.domains()
        if not domains:
            return await super().postmaster_domain()
        return domains[0]

    def incoming(self, envelope):
        return self.service.incoming(self, envelope)

    def queue_info(self):
        info = {"client": self.client_ip, "helo": self.helo, "service": "smtpd"}
        if self.folder:
            info["folder"] = self.folder
        return info

    def queued(self, qid, envelope, incoming):
        log.info("%s: client=%s[%s], from=<%s>, size=%d, nrcpt=%d", qid, self.helo,
                 self.client_ip, envelope.sender, incoming.size,
                 len(envelope.recipients))
        self.service.wake_deliverd()


def look_up(accounts, address, delimiters):
    """(the address's targets, whether their mailboxes are all full); for
    nobody, an unknown user's quota is read all the same (it is 0)."""
    targets = recipients.look_up(accounts, address, delimiters).targets
    return targets, all_full(accounts, targets or [address])


def all_full(accounts, targets):
    """True when every target is a local user whose mailbox has reached its
    quota (reads each one's index: for a thread, not the event loop)."""
    for target in targets:
        limit = accounts.quota(target)
        if not limit or not mailquota.over(usage_of(accounts.mailbox_dir(target)),
                                           limit):
            return False
    return True


class Service(service.Service):
    section = "smtpd"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.defences = defences.Defences(cfg, self.accounts)
        self.rspamd = rspamd.Rspamd(cfg.rspamd) if cfg.rspamd.enabled else None
        self.mailauth = MailAuth(cfg) if cfg.mailauth.checks else None

    async def session(self, stream, name):
        await MXSession(stream, self).run()


async def start(cfg, sockets):
    await Service(cfg).server.serve(sockets)


def main(argv=None):
    return server.main("smtpd", {"smtp"}, start, argv)


if __name__ == "__main__":
    raise SystemExit(main())
