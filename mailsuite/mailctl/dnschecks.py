"""The DNS checks of `mailctl doctor`: what the world sees of this server and its
domains, asked of the resolver deliverd uses (`[outbound] nameservers`, else the
system's).

    Lookup(nameservers, timeout, budget)   # [(address, port)]; [] = the system's
    mx(lookup, domain, hostname);  host_addresses(lookup, hostname, machine)
    ptr(lookup, address, hostname);  spf(lookup, domain, hostname, machine)
    dkim(lookup, domain, selector, key_txt)  # key_txt: KeyStore.txt(key)
    dmarc(lookup, domain);  mta_sts(lookup, domain);  tls_rpt(lookup, domain)

Each check returns a Finding (mailctl.checks). Failure policy: a query gets at
most `timeout` seconds and all of them together `budget`; a lookup that fails
(no answer in time, a server failure, the budget spent) raises DNSError, which
the doctor reports as that check's failure: no check waits for longer.
"""

import ipaddress
import time

import dns.exception
import dns.resolver
import dns.reversename

from . import mailpolicy
from .checks import fail, ok, warn


class DNSError(Exception):
    """A lookup got no usable answer; the message says which and why."""


class Lookup:
    """Cached lookups; a failed one is remembered too and fails again at once."""

    def __init__(self, nameservers, timeout, budget):
        self.timeout = timeout
        self.deadline = time.monotonic() + budget
        self.budget = budget
        self.servers = ", ".join(f"{host}:{port}" for host, port in nameservers) \
            or "the system's resolver"
        self._answers = {}
        try:
            self._resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.exception.DNSException as exc:
            self._resolver, self._broken = None, f"no DNS resolver: {exc}"
            return
        if nameservers:
            self._resolver.nameservers = [host for host, _ in nameservers]
            self._resolver.nameserver_ports = dict(nameservers)

    def records(self, name, rdtype):
        """The answer's records; [] when the name or the type does not exist."""
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._answers:
            try:
                self._answers[key] = self._ask(*key)
            except DNSError as exc:
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, DNSError):
            raise answer
        return answer

    def _ask(self, name, rdtype):
        if self._resolver is None:
            raise DNSError(self._broken)
        left = min(self.timeout, self.deadline - time.monotonic())
        if left <= 0:
            raise DNSError(f"{name} {rdtype} not looked up: the {self.budget:g} s "
                           "for all DNS lookups are spent")
        try:
            return list(self._resolver.resolve(name, rdtype, lifetime=left,
                                               search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise DNSError(f"no answer for {name} {rdtype} from {self.servers} "
                           f"within {left:.3g} s") from None
        except dns.resolver.NoNameservers:
            raise DNSError(f"{name} {rdtype}: no DNS server answered "
                           f"({self.servers})") from None
        except dns.exception.DNSException as exc:
            raise DNSError(f"{name} {rdtype}: {exc}") from None

    def txt(self, name):
        """Each TXT record's strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(r.strings).decode("utf-8", "replace")
                for r in self.records(name, "TXT")]

    def addresses(self, name):
        return {r.address for rdtype in ("A", "AAAA") for r in self.records(name, rdtype)}

    def mx_hosts(self, domain):
        return [r.exchange.to_text(omit_final_dot=True).lower()
                for r in sorted(self.records(domain, "MX"), key=lambda r: r.preference)]


def mx(lookup, domain, hostname):
    publish = f"publish `{domain}. MX 10 {hostname}.`"
    hosts = lookup.mx_hosts(domain)
    if not hosts:
        return fail(f"no MX record for {domain}", publish)
    if hosts == ["."]:
        return fail(f"{domain} has a null MX: it takes no mail (RFC 7505)", publish)
    if hostname not in hosts:
        return fail(f"MX points at {', '.join(hosts)}, not at {hostname}", publish)
    if hosts[0] != hostname:
        return warn(f"MX points at {', '.join(hosts)}: {hostname} is not first",
                    "give this host the lowest preference, unless the others are "
                    "meant as backups")
    return ok(f"MX points at {hostname}")


def host_addresses(lookup, hostname, machine):
    published = lookup.addresses(hostname)
    if not published:
        return fail(f"{hostname} has no A or AAAA record",
                    f"publish `{hostname}. A` (and AAAA) with this machine's address")
    shown = ", ".join(sorted(published))
    if not machine:
        return warn(f"{hostname} is {shown}; this machine's addresses are unknown",
                    "name them with --address")
    if not published & machine:
        return fail(f"{hostname} is {shown}, not this machine "
                    f"({', '.join(sorted(machine))})",
                    "point the A/AAAA records at this machine; behind NAT, name the "
                    "public address with --address")
    if published - machine:
        return warn(f"{hostname} is also {', '.join(sorted(published - machine))}, "
                    "not this machine", "remove those records, or name those "
                    "addresses with --address if they reach this machine")
    return ok(f"{hostname} is {shown}: this machine")


def ptr(lookup, address, hostname):
    advice = (f"ask whoever gave you {address} (the hosting provider) to set its "
              f"reverse DNS to {hostname}")
    names = [r.target.to_text(omit_final_dot=True).lower() for r in
             lookup.records(dns.reversename.from_address(address).to_text(), "PTR")]
    if not names:
        return fail(f"no PTR record for {address}", advice)
    if hostname not in names:
        return fail(f"the PTR record of {address} names {', '.join(names)}, "
                    f"not {hostname}", advice)
    # Forward-confirmed reverse DNS: the name must lead back to the address.
    if address not in lookup.addresses(hostname):
        return fail(f"{address} names {hostname}, but {hostname} does not resolve "
                    f"to {address}", f"publish {address} in {hostname}'s A/AAAA")
    return ok(f"{address} names {hostname}, which resolves back to it")


def spf(lookup, domain, hostname, machine):
    """A simple SPF evaluation (RFC 7208 5): a, mx, ip4, ip6 and all are
    matched against this host; include, exists, ptr and redirect are not
    followed, and a result that depends on them is a warning."""
    advice = (f"publish `{domain}. TXT \"v=spf1 mx -all\"`, or add mx or "
              "ip4:/ip6: with this host's address before the all")
    try:
        record = mailpolicy.select(lookup.txt(domain), "v=spf1")
        terms = mailpolicy.spf_terms(record) if record else None
    except mailpolicy.PolicyError as exc:
        return fail(f"SPF record: {exc}", advice)
    if record is None:
        return fail(f"no SPF record for {domain}", advice)
    unfollowed = []
    for term in terms:
        if term.name in ("include", "exists", "ptr", "redirect"):
            unfollowed.append(f"{term.name}:{term.argument}".rstrip(":"))
        elif term.qualifier and _spf_matches(lookup, term, domain, hostname, machine):
            return _spf_result(term, domain, unfollowed, advice)
    if unfollowed:
        return _not_followed(domain, unfollowed)
    # RFC 7208 4.7: no match and no redirect: the result is neutral.
    return fail(f"SPF of {domain} does not list this host", advice)


def _spf_matches(lookup, term, domain, hostname, machine):
    target = term.argument.split("/")[0] or domain
    if term.name == "all":
        return True
    if term.name in ("ip4", "ip6"):
        try:
            network = ipaddress.ip_network(term.argument, strict=False)
        except ValueError:
            return False
        return any(ipaddress.ip_address(a) in network for a in machine)
    if term.name == "a":
        return target == hostname or bool(lookup.addresses(target) & machine)
    return hostname in lookup.mx_hosts(target)      # mx


def _spf_result(term, domain, unfollowed, advice):
    mechanism = f"{term.qualifier}{term.name}".lstrip("+")
    if term.name == "all" and term.qualifier == "+":
        return warn(f"SPF of {domain} ends in +all: every host may send as {domain}",
                    "replace +all by -all")
    if term.qualifier == "+":
        return ok(f"SPF of {domain} lets this host send ({mechanism}; a simple "
                  "evaluation: include, exists, ptr and redirect are not followed)")
    if unfollowed:
        return _not_followed(domain, unfollowed)
    verdict = warn if term.qualifier == "?" else fail
    return verdict(f"SPF of {domain} does not list this host: it matches "
                   f"{mechanism}", advice)


def _not_followed(domain, unfollowed):
    return warn(f"SPF of {domain} lists this host only through "
                f"{', '.join(unfollowed)}, which this check does not follow",
                "make sure the included records list this host, or add mx")


def dkim(lookup, domain, selector, key_txt):
    """The key published for `selector` is the key store's."""
    name = f"{selector}._domainkey.{domain}"
    advice = f"publish the record `mailctl dkim dns {domain}` prints for {selector}"
    records = [t for t in lookup.txt(name) if "p=" in t]
    if not records:
        return fail(f"no DKIM key record at {name}", advice)
    try:
        published = mailpolicy.dkim_key(records[0])
    except mailpolicy.PolicyError as exc:
        return fail(f"the DKIM record at {name} is malformed: {exc}", advice)
    if not published.key:
        return fail(f"the DKIM key at {name} is revoked (empty p=)", advice)
    if published != mailpolicy.dkim_key(key_txt):
        return fail(f"the key published at {name} is not the key that signs", advice)
    return ok(f"the published key is the one that signs ({published.algorithm})")


def dmarc(lookup, domain):
    name = f"_dmarc.{domain}"
    advice = (f"publish `{name}. TXT \"v=DMARC1; p=none; "
              f"rua=mailto:postmaster@{domain}\"` (mailctl dns {domain})")
    try:
        found = _policy(lookup, name, "v=DMARC1", mailpolicy.dmarc)
    except mailpolicy.PolicyError as exc:
        return fail(f"the DMARC record at {name} is malformed: {exc}", advice)
    if found is None:
        return fail(f"no DMARC record at {name}", advice)
    policy = found["p"].lower()
    if policy == "none":
        return ok(f"DMARC of {domain}: p=none (reports only; p=quarantine once "
                  "they show all your mail passes)")
    return ok(f"DMARC of {domain}: p={policy}")


def mta_sts(lookup, domain):
    name = f"_mta-sts.{domain}"
    advice = (f"publish the MTA-STS record `mailctl dns {domain}` prints, and its "
              f"policy at https://mta-sts.{domain}/.well-known/mta-sts.txt")
    try:
        found = _policy(lookup, name, "v=STSv1", mailpolicy.mta_sts)
    except mailpolicy.PolicyError as exc:
        return fail(f"the MTA-STS record at {name} is malformed: {exc}", advice)
    if found is None:
        return warn(f"no MTA-STS record at {name}: senders may skip TLS", advice)
    return ok(f"MTA-STS record at {name}, id={found['id']} (the policy file "
              "itself is not fetched)")


def tls_rpt(lookup, domain):
    name = f"_smtp._tls.{domain}"
    advice = (f"publish `{name}. TXT \"v=TLSRPTv1; "
              f"rua=mailto:postmaster@{domain}\"` (mailctl dns {domain})")
    try:
        found = _policy(lookup, name, "v=TLSRPTv1", mailpolicy.tls_rpt)
    except mailpolicy.PolicyError as exc:
        return fail(f"the TLS-RPT record at {name} is malformed: {exc}", advice)
    if found is None:
        return warn(f"no TLS-RPT record at {name}: no reports of TLS failures",
                    advice)
    return ok(f"TLS-RPT record at {name}: reports to {found['rua']}")


def _policy(lookup, name, version, parse):
    """The parsed record of that version at `name`, None when there is none;
    PolicyError when it is malformed."""
    record = mailpolicy.select(lookup.txt(name), version)
    return None if record is None else parse(record)
