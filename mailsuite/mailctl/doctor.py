"""mailctl doctor: is this server ready to take and send mail? One line per check,
ok, warn or fail, and what to do about anything that is not ok.

The checks, in order: the configuration; the listening sockets
(mailctl.socketchecks); the state directory, its free space, the certificate and
the queue (mailctl.checks); then DNS as the world sees it (mailctl.dnschecks):
each domain's MX, the hostname's addresses, the reverse DNS of this machine's
addresses, and each domain's SPF, DKIM, DMARC, MTA-STS and TLS-RPT records;
last, outbound port 25 and the clock. A configuration that cannot be read ends
the run after its own line: every other check needs it.

Failure policy: exit status 0 when no check failed (warnings allowed), 1
otherwise. Every check that uses the network has a timeout and the DNS lookups
a budget in all, so the doctor never hangs; a lookup that gets no answer fails
its check and says so.
"""

import ipaddress
import json
from typing import NamedTuple

import click

from ..core import config as core_config
from ..core import dkimkeys, units
from . import checks, dnschecks, main, pass_instance, socketchecks
from .checks import FAIL, fail, warn
from .dnschecks import DNSError

PROBE_HOST = "gmail-smtp-in.l.google.com"
DNS_BUDGET = 30.0          # seconds for all the DNS lookups of one run
DNS_ADVICE = ("make sure the DNS servers answer: `[outbound] nameservers` in the "
              "configuration, else those of /etc/resolv.conf")


class Result(NamedTuple):
    check: str
    verdict: str
    detail: str
    advice: str


class Report:
    """The results so far; printed as they come, or as JSON at the end."""

    def __init__(self, as_json):
        self.as_json = as_json
        self.results = []

    def add(self, check, finding):
        result = Result(check, *finding)
        self.results.append(result)
        if not self.as_json:
            click.echo(f"{result.verdict:<4} {check}: {result.detail}")
            if result.advice:
                click.echo(f"     fix: {result.advice}")

    def run(self, check, function, *args):
        try:
            finding = function(*args)
        except DNSError as exc:
            finding = fail(str(exc), DNS_ADVICE)
        self.add(check, finding)

    def finish(self):
        failed = sum(result.verdict == FAIL for result in self.results)
        if self.as_json:
            click.echo(json.dumps([r._asdict() for r in self.results], indent=2))
        else:
            counts = {v: sum(r.verdict == v for r in self.results)
                      for v in (checks.OK, checks.WARN, FAIL)}
            click.echo(f"{len(self.results)} checks: " + ", ".join(
                f"{count} {verdict}" for verdict, count in counts.items()))
        click.get_current_context().exit(1 if failed else 0)


@main.command()
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="Check the DNS records of DOMAIN, a local domain; repeat it for "
                   "more (default: every local domain).")
@click.option("--address", "addresses", multiple=True, metavar="ADDRESS",
              help="An IP address of this machine as the world sees it (behind NAT: "
                   "the public one); repeat it for more. Default: the addresses the "
                   "machine sends from (its default routes' source addresses).")
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT",
              help="Without systemd: try PORT for the socket NAME (smtp, imap, "
                   "imaps...) instead of the unit's port, e.g. `--port smtp=1025` "
                   "for `make run`'s instance.")
@click.option("--smtp-probe", metavar="HOST[:PORT]", default=PROBE_HOST,
              show_default=True,
              help="The SMTP server to connect to, to find out whether this network "
                   "lets mail out on port 25.")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0,
              show_default=True, metavar="SECONDS",
              help=f"The longest wait for one DNS answer or one connection. All "
                   f"the DNS lookups together get at most {DNS_BUDGET:g} s.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document at the end: a list of {check, verdict, "
                   "detail, advice}.")
@pass_instance
def doctor(instance, domains, addresses, ports, smtp_probe, timeout, as_json):
    """Check that this server is ready to receive and send mail, and say what to
    fix: the configuration, the listening sockets, the state directory and its
    free space, the certificate, the queue, the DNS records as the world sees
    them through the configured resolver (MX, A/AAAA, reverse DNS, SPF, DKIM,
    DMARC, MTA-STS, TLS-RPT), outbound port 25 and the clock.

    Each check prints one line: ok, warn or fail, with what it found, and for
    anything that is not ok a second line saying what to do. The exit status
    is 0 when no check failed, 1 otherwise.

    Where systemd runs the machine, systemctl says which socket units are
    enabled and whether each listens; elsewhere the ports the units name are
    tried on 127.0.0.1 (see --port). DNS is asked of `[outbound] nameservers`,
    else the system's resolver. The hostname's A/AAAA records must name this
    machine's addresses (see --address), and each of those addresses a PTR
    record naming the hostname, which resolves back to it. SPF is evaluated
    simply: its a, mx, ip4, ip6 and all terms against this host; include,
    exists, ptr and redirect are not followed, and a result that depends on
    them is a warning. Each DKIM selector that signs must have its key
    published as the key store holds it. Outbound port 25 is a connection to
    --smtp-probe; one refused or unanswered is a warning: the network may block
    it, and mail must then go through a relay host."""
    machine = {_address(a) for a in addresses}
    ports = dict(_port_option(p) for p in ports)
    probe = _probe_option(smtp_probe)
    report = Report(as_json)
    try:
        cfg = core_config.load(instance.path)
        report.add("configuration", checks.ok(f"{instance.path} is valid"))
    except core_config.ConfigError as exc:
        report.add("configuration", fail(str(exc), "fix the file; mailsuite.toml(5) "
                                         "describes every key"))
        return report.finish()
    _machine_checks(report, cfg, ports, timeout)
    lookup = dnschecks.Lookup([core_config.host_port(server, 53) for server
                               in cfg.outbound.nameservers], timeout, DNS_BUDGET)
    _dns_checks(report, cfg, lookup, _domains(report, instance, domains),
                machine or checks.machine_addresses())
    report.run("outbound port 25", _probe, lookup, *probe, timeout)
    report.add("clock", checks.clock())
    report.finish()


def _machine_checks(report, cfg, ports, timeout):
    if checks.systemd_running():
        sockets = socketchecks.with_systemd(checks.run_command)
    else:
        sockets = socketchecks.on_loopback(units.unit_sockets(),
                                           cfg.runtime_dir, ports, timeout)
    for check, finding in sockets:
        report.add(check, finding)
    report.add("state directory", checks.state_dir(cfg.state_dir))
    report.add("free space", checks.free_space(cfg.state_dir))
    report.add("certificate", checks.certificate(cfg.tls.cert, cfg.tls.key,
                                                 _hostname(cfg)))
    report.add("queue", checks.queue(cfg.state_dir))


def _dns_checks(report, cfg, lookup, domains, machine):
    hostname = _hostname(cfg)
    for domain in domains:
        report.run(f"mx {domain}", dnschecks.mx, lookup, domain, hostname)
    report.run(f"address {hostname}", dnschecks.host_addresses, lookup, hostname,
               machine)
    for address in sorted(machine):
        report.run(f"ptr {address}", dnschecks.ptr, lookup, address, hostname)
    if not machine:
        report.add("ptr", warn("this machine's addresses are unknown",
                               "name them with --address"))
    store = dkimkeys.KeyStore(cfg.state_dir)
    for domain in domains:
        report.run(f"spf {domain}", dnschecks.spf, lookup, domain, hostname, machine)
        _dkim_checks(report, lookup, store, domain)
        report.run(f"dmarc {domain}", dnschecks.dmarc, lookup, domain)
        report.run(f"mta-sts {domain}", dnschecks.mta_sts, lookup, domain)
        report.run(f"tls-rpt {domain}", dnschecks.tls_rpt, lookup, domain)


def _hostname(cfg):
    return cfg.server.hostname.lower().rstrip(".")


def _dkim_checks(report, lookup, store, domain):
    try:
        signing = [key for key in store.keys(domain) if key.active]
    except dkimkeys.DKIMKeyError as exc:
        return report.add(f"dkim {domain}", warn(str(exc), checks.AS_ROOT))
    if not signing:
        report.add(f"dkim {domain}", warn(
            f"no DKIM key: mail from {domain} is not signed",
            f"`mailctl dkim generate {domain}`, then publish what it prints"))
    for key in signing:
        check = f"dkim {key.selector}._domainkey.{domain}"
        try:
            key_txt = store.txt(key)
        except dkimkeys.DKIMKeyError as exc:
            report.add(check, fail(str(exc), f"{checks.AS_ROOT}, or make a new key: "
                                   f"`mailctl dkim rotate {domain}`"))
            continue
        report.run(check, dnschecks.dkim, lookup, domain, key.selector, key_txt)


def _domains(report, instance, given):
    """The domains to check: those given, each a local one, else every one."""
    given = [domain.lower().rstrip(".") for domain in given]
    try:
        exists = (instance.config.state_dir / "accounts").is_dir()
    except OSError as exc:
        report.add("domains", warn(f"cannot read the accounts: {exc.strerror}",
                                   f"{checks.AS_ROOT}, or name the domains with --domain"))
        return given
    local = instance.accounts.domains() if exists else []
    for domain in given:
        if domain not in local:
            raise click.BadParameter(f"not a local domain: {domain}",
                                     param_hint="--domain")
    if not (given or local):
        report.add("domains", warn("no local domain", "`mailctl setup`, or "
                                   "`mailctl domain add DOMAIN`"))
    return given or local


def _probe(lookup, host, port, timeout):
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = sorted(lookup.addresses(host))
        except DNSError as exc:
            return warn(f"the test host {host} was not found: {exc}", DNS_ADVICE)
        if not addresses:
            return warn(f"the test host {host} has no address in DNS",
                        "name another with --smtp-probe")
    return checks.smtp_probe(host, addresses, port, timeout)


def _address(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise click.BadParameter(f"not an IP address: {text}",
                                 param_hint="--address") from None


def _port_option(text):
    try:
        return units.port_option(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--port") from None


def _probe_option(text):
    """(host, port) from "host", "host:port", "address", "[v6 address]:port"."""
    try:
        return core_config.host_port(text, 25)
    except ValueError:
        pass
    host, colon, port = text.rpartition(":")
    if not colon or ":" in host:
        return text, 25
    if port.isdigit() and 0 < int(port) < 65536:
        return host, int(port)
    raise click.BadParameter(f"expected HOST[:PORT], got {text!r}",
                             param_hint="--smtp-probe")
