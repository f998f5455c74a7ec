"""Sender authentication of inbound mail: SPF (RFC 7208), DKIM (RFC 6376), ARC
(RFC 8617) and DMARC (RFC 7489), recorded in one Authentication-Results field
(RFC 8601) and acted on as the From domain's DMARC policy asks.

    auth = MailAuth(cfg)                    # one per smtpd
    check = auth.start(ip, helo, sender)    # at MAIL: SPF starts in the background
    verdict = await check.finish(incoming)  # at the end of the data
    auth.field(verdict) -> bytes            # the Authentication-Results field
    check.cancel()                          # the transaction ended without a message

Modules: dnsquery (in mailsuite.smtp: the resolver and the per-message budget),
spf, dkimverify, arc, dmarc (with orgdomain), authresults, records (the per-message
DMARC records), checks (what joins them).
"""

from .checks import Check, MailAuth, Verdict

__all__ = ["Check", "MailAuth", "Verdict"]
