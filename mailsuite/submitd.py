"""submitd: mail submission for the suite's users (RFC 6409), on the shared SMTP
engine, queued for deliverd like the MX's mail.

Sockets: `submission` (port 587: STARTTLS, then AUTH) and `submissions` (port 465:
implicit TLS, RFC 8314 3.3). Credentials travel only under TLS, and a client logs
in (AUTH PLAIN or LOGIN, through core.login's policy and failure limits) before
MAIL; clients in `submitd.relay_networks` (printers, scanners) may submit without
either. A logged-in user may send as their own address or an alias that leads to
them (core.accounts.may_send_as), else 553 5.7.1; the null sender is allowed, for
the MDNs (RFC 8098 3) and automatic replies (RFC 3834 3.1.5) that clients send
with it. Each user may submit `submitd.rate_limit` messages an hour (450 4.7.1
past it). Any recipient is taken, but for a user unknown in a local domain.

On top of each message go a Received field, without the client's name and address
unless `submitd.received_client_address` is set, and the Message-ID and Date the
client left out (RFC 6409 8.2, 8.3), and, once the whole message is in, the
DKIM-Signature fields of the From domain's keys (core.dkim; `mailctl dkim
generate`). The message gets its 250 only once durable in the queue; deliverd is then woken, and delivers local recipients at once.
"""

import asyncio
import email.parser
import email.policy
import email.utils
import ipaddress
import logging

from .core import dkim, server
from .core.login import MECHANISMS, Login, shown
from .core.spool import Options
from .smtp import auth, headers, service
from .smtp.errors import ProtocolError
from .smtp.ratelimit import RateLimit
from .smtp.session import Session

log = logging.getLogger("submitd")

MAX_FAILURES = 3        # failed or refused logins before the session is ended


class SubmitSession(Session):
    section = "submitd"

    def __init__(self, stream, service, name):
        super().__init__(stream, service.cfg, service.credentials, name)
        self.service = service
        self.user = None                # the address logged in as
        self.relay_client = service.is_relay_client(self.client_ip)
        self.failed_logins = 0

    def ehlo_keywords(self):
        words = super().ehlo_keywords()
        # RFC 4954 4, RFC 8314 3: AUTH is offered only where credentials may go.
        if self.stream.tls:
            words.append("AUTH " + " ".join(MECHANISMS))
        return words

    def protocol_suffix(self):
        # RFC 3848: ESMTPSA, ESMTPA.
        return super().protocol_suffix() + ("A" if self.user else "")

    async def smtp_AUTH(self, arg):
        # RFC 4954 4: after EHLO, once per session, outside a mail transaction.
        if self.helo is None or not self.esmtp:
            raise ProtocolError(503, "5.5.1", "send EHLO first")
        if self.user is not None:
            raise ProtocolError(503, "5.5.1", "already authenticated")
        if self.envelope is not None:
            raise ProtocolError(503, "5.5.1", "AUTH not permitted during a mail "
                                "transaction")
        try:
            result = await auth.authenticate(self, arg, self.service.login)
        except ProtocolError as exc:
            if exc.code in (535, 454):
                self.failed_logins += 1
                exc.close = self.failed_logins >= MAX_FAILURES
            raise
        self.user = result.address
        tls_info = self.stream.tls_info()
        log.info("login: user=%s ip=%s method=SASL-%s tls=%s cached=%s", self.user,
                 self.client_ip, arg.split(" ")[0].upper()[:20],
                 tls_info[0] if tls_info else "no", "yes" if result.cached else "no")
        self.reply("235 2.7.0 Authentication successful")

    def handle_mail_param(self, name, value):
        # RFC 4954 5: AUTH= on MAIL is taken and, from our own users, not needed.
        return name == "AUTH"

    async def check_sender(self, path, params):
        # RFC 8314 3, RFC 3207 4: submission happens under TLS (relay clients,
        # which send no credentials, aside).
        if not self.stream.tls and not self.relay_client:
            raise ProtocolError(530, "5.7.0", "Must issue a STARTTLS command first")
        # RFC 6409 4.3, RFC 4954 6: a submission server may require AUTH.
        if self.user is None and not self.relay_client:
            raise ProtocolError(530, "5.7.0", "Authentication required")
        # RFC 3463 3.8 (4.7.1: delivery not authorized, try later).
        if not self.service.rate.allows(self.sender_key()):
            raise ProtocolError(450, "4.7.1", "sending rate limit reached, "
                                "try again later", counted=False)
        if self.user is None or path.null:
            return
        # RFC 6409 8.1: the server may check that the sender is the user's.
        if path.literal or not await self.service.owns(self.user, str(path)):
            raise ProtocolError(553, "5.7.1", f"<{path}>: not owned by user "
                                f"{shown(self.user)}")

    async def check_recipient(self, path):
        # Submission takes any recipient (RFC 6409 1), but a local one must exist.
        if path.literal or not self.service.accounts.is_local_domain(path.domain):
            return
        self.service.local_targets(path)

    def sender_key(self):
        return f"user:{self.user}" if self.user else f"ip:{self.client_ip}"

    def incoming(self, envelope):
        return self.service.incoming(self, envelope)

    def top_fields(self, qid, envelope, head):
        client = self.cfg.submitd.received_client_address
        return (self.received_header(qid, envelope, client=client)
                + headers.missing_fields(head, qid, self.hostname))

    def queue_info(self):
        return {"client": self.client_ip, "helo": self.helo, "service": "submitd"}

    def queue_options(self, envelope):
        return Options(envid=envelope.envid, ret=envelope.ret,
                       requiretls=envelope.requiretls, user=self.user)

    async def before_queue(self, incoming):
        # RFC 6376: signed by the From field's domain (what DMARC aligns with,
        # RFC 7489 3.1.1), else by the sender's, when that domain has keys.
        sender = incoming.envelope.sender
        domains = [signing_domain(incoming.header_section),
                   None if sender.null else sender.domain]
        try:
            fields = await self.service.sign(incoming.draft, domains)
        except (dkim.SigningError, dkim.DKIMKeyError) as exc:
            log.warning("%s: not signed: %s", incoming.qid, exc)
            return
        if fields:
            await incoming.prepend(fields)

    def queued(self, qid, envelope, incoming):
        self.service.rate.count(self.sender_key())
        log.info("%s: client=[%s], user=%s, from=<%s>, size=%d, nrcpt=%d", qid,
                 self.client_ip, self.user or "-", envelope.sender, incoming.size,
                 len(envelope.recipients))
        self.service.wake_deliverd()


class Service(service.Service):
    section = "submitd"

    def __init__(self, cfg):
        super().__init__(cfg, implicit_tls={"submissions"})
        self.login = Login(cfg.login, self.accounts)
        self.rate = RateLimit(cfg.submitd.rate_limit)
        self.signer = dkim.Signer.load(cfg)
        self.relay_networks = [ipaddress.ip_network(network)
                               for network in cfg.submitd.relay_networks]

    async def session(self, stream, name):
        await SubmitSession(stream, self, name).run()

    def is_relay_client(self, ip):
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        address = getattr(address, "ipv4_mapped", None) or address
        return any(address in network for network in self.relay_networks)

    async def sign(self, draft, domains):
        """The DKIM-Signature fields of the first of `domains` that has keys
        (b"" when none has); the work runs off the event loop."""
        message = draft.directory / draft.qid if draft.on_disk else draft.value()
        loop = asyncio.get_running_loop()
        for domain in dict.fromkeys(d for d in domains if d):
            fields = await loop.run_in_executor(None, self.signer.headers, domain,
                                                message)
            if fields:
                return fields
        return b""

    async def owns(self, user, address):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.accounts.may_send_as, user,
                                          address)


def signing_domain(header_section):
    """The domain of the From field's first address, or None."""
    fields = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        header_section)
    addresses = email.utils.getaddresses(fields.get_all("From", []))
    domain = addresses[0][1].rpartition("@")[2] if addresses else ""
    return domain.lower() or None


async def start(cfg, sockets):
    await Service(cfg).server.serve(sockets)


def main(argv=None):
    return server.main("submitd", {"submission", "submissions"}, start, argv)


if __name__ == "__main__":
    raise SystemExit(main())
