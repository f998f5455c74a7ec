"""The TLS policy of each mail host of a destination: what the session with it
must prove, and the hosts a policy forbids.

    policies = TlsPolicies(cfg, resolver)
    await policies.plan(destination, targets) -> [(Target, HostTls)]
    HostTls.kind: "opportunistic" | "mta-sts" | "dane";  .enforce: bool

Per host, in this order (RFC 8461 2: DANE wins over MTA-STS):
- DANE (RFC 7672) when the host's MX and address records were validated
  (outbound.dns, `secure`) and it has validated TLSA records: STARTTLS is
  required and the certificate must match one of them (outbound.dane);
- MTA-STS (RFC 8461, outbound.mtasts) when the domain has a policy: in
  enforce mode, a host that the policy's mx patterns do not name is not used
  (4.1) and the others need STARTTLS with a certificate valid for their name
  (4.2); in testing mode the same checks only log what would fail (5);
- else opportunistic STARTTLS (RFC 7435), as before.

Mail through a relay host or a route is not the destination's MX: it gets
opportunistic TLS (a relay login still needs TLS, outbound.client).

Failure policy: a host that fails an enforced policy fails as a host does
(DeliveryFailed 4.7.x, the next host is tried); a host that a policy forbids
(or whose TLSA lookup fails) is left out with a log line, and when that
leaves no host at all, the destination's mail is deferred (4.7.0) with the
reasons.
"""

import logging
import ssl
from typing import NamedTuple

from ..core.config import ConfigError
from .dane import usable
from .mtasts import MtaSts
from .status import REPLY_TEXT_MAX, DeliveryFailed

log = logging.getLogger("deliverd")

KINDS = ("opportunistic", "mta-sts", "dane", "webpki")


class HostTls(NamedTuple):
    kind: str                 # one of KINDS ("webpki": a certificate valid
                              # for the name, for REQUIRETLS, never enforced)
    enforce: bool             # a failure skips the host; else it is only logged
    context: object           # the ssl.SSLContext for the handshake
    source: str = ""          # "MTA-STS policy of example.com", for the log
    tlsa: tuple = ()          # DANE: the usable TLSA records

    @property
    def verify(self):
        """The handshake itself checks the chain and the name (WebPKI)."""
        return self.kind in ("mta-sts", "webpki")


def opportunistic_context():
    """RFC 7435 3: encrypt without authenticating; also the context of DANE,
    which checks the certificate against its TLSA records itself."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def verifying_context(ca_file=""):
    """RFC 8461 4.2, RFC 6125: a chain to a trusted CA, and the host's name."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"outbound.ca_file: {ca_file}: cannot load CA "
                              f"certificates: {getattr(exc, 'strerror', None) or exc}"
                              ) from None
    return context


class TlsPolicies:
    def __init__(self, cfg, resolver):
        out = cfg.outbound
        self.resolver = resolver
        self.dane = resolver.trust_ad
        self.plain = opportunistic_context()
        self.verifying = verifying_context(out.ca_file)
        self.mta_sts = MtaSts(resolver, cfg.state_path("outbound", "mta-sts"),
                              self.verifying, out.mta_sts_timeout) \
            if out.mta_sts else None

    @property
    def opportunistic(self):
        return HostTls("opportunistic", False, self.plain)

    async def plan(self, destination, targets, mx=True, requiretls=False):
        """[(Target, HostTls)] for the `targets` of `destination` (its MX
        hosts when `mx`), leaving out the hosts its policy forbids; raises
        DeliveryFailed when that leaves none. With `requiretls`, a host
        without a policy whose MX and address records were validated is
        asked for a certificate valid for its name (RFC 8689 4.2.1), which
        REQUIRETLS messages need, others not."""
        if not mx:
            return [(target, self.opportunistic) for target in targets]
        policy = await self.mta_sts.policy(destination) if self.mta_sts else None
        planned, reasons = [], []
        for target in targets:
            try:
                planned.append((target, await self._host(target.host, destination,
                                                         policy, requiretls)))
            except DeliveryFailed as exc:
                log.info("outbound: %s not used: %s", target.host.name, exc.text)
                reasons.append(exc.text)
        if not planned:
            # Bounded: the text goes to the log, the queue and a notice.
            raise DeliveryFailed("4.7.0", f"{destination}: no MX host may be used: "
                                          + "; ".join(reasons)[:REPLY_TEXT_MAX])
        return planned

    async def _host(self, host, destination, policy, requiretls):
        """The HostTls of `host`; raises DeliveryFailed when it may not be used."""
        if self.dane and host.secure:
            # RFC 7672 2.2.2: a TLSA lookup that fails makes the host unusable.
            records, secure = await self.resolver.tlsa(host.name)
            if secure and records:
                # RFC 7672 2.2: validated TLSA records make TLS mandatory,
                # authenticated when one of them is usable.
                return HostTls("dane", True, self.plain,
                               f"DANE TLSA records of {host.name}",
                               tuple(usable(records)))
        if policy is None and requiretls and host.secure:
            return HostTls("webpki", False, self.verifying,
                           "REQUIRETLS check (DNSSEC-validated MX)")
        if policy is None:
            return self.opportunistic
        enforce = policy.mode == "enforce"
        source = f"MTA-STS policy of {destination} ({policy.mode})"
        # RFC 8461 4.1: a host the policy does not name is not used.
        if not policy.allows(host.name):
            if enforce:
                raise DeliveryFailed("4.7.0", f"{host.name} is not named by the "
                                              f"{source}")
            log.info("outbound: %s is not named by the %s; used all the same",
                     host.name, source)
        return HostTls("mta-sts", enforce, self.verifying, source)
