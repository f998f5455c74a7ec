"""mailctl doctor against a real authoritative DNS server (Knot DNS) on loopback.

The zone of example.test is what `mailctl dns` prints for the instance, its
DKIM keys made by `mailctl dkim generate`, plus mail.example.test's address;
the reverse zone names 127.0.0.1 back. With that zone every DNS check is ok and
the exit status 0; each broken variant fails its own check, and only it, with
exit status 1; with the DNS server stopped every DNS check says the server did
not answer. The sockets the units name are plain listening sockets on loopback
(the check asks only that something listens), one of which is also the
outbound SMTP probe's target.
"""

import json
import os
import socket
import tempfile

import pytest

from mailsuite import dev
from mailsuite.core import dkimkeys, dnsrecords, units
from harness import Instance
from outbound_peers import Knot

DOMAIN, HOSTNAME, ADDRESS = "example.test", "mail.example.test", "127.0.0.1"
REVERSE = "1.0.0.127.in-addr.arpa"
DNS_CHECKS = ("mx ", "address ", "ptr ", "spf ", "dkim ", "dmarc ", "mta-sts ",
              "tls-rpt ")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An instance with example.test and its DKIM keys, and something listening
    on every socket its units name; yields (instance, doctor's options)."""
    inst = Instance(tmp_path_factory.mktemp("doctor") / "inst", hostname=HOSTNAME)
    inst.mailctl("domain", "add", DOMAIN)
    inst.mailctl("dkim", "generate", DOMAIN)
    listeners, options = [], ["--address", ADDRESS]
    for sock in units.unit_sockets():
        if sock.listen.startswith("/"):
            listeners.append(_unix_socket(inst.runtime / os.path.basename(sock.listen)))
        else:
            listeners.append(dev.bind_tcp(0))
            options += ["--port", f"{sock.name}={listeners[-1].getsockname()[1]}"]
    options += ["--smtp-probe", f"{ADDRESS}:{listeners[-1].getsockname()[1]}"]
    yield inst, options
    for listener in listeners:
        listener.close()
    inst.close()


def _unix_socket(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.fspath(path))
    return sock


def good_zones(inst):
    records = inst.mailctl("dns", DOMAIN).stdout
    return {DOMAIN: f"{records}mail A {ADDRESS}\n",
            REVERSE: f"@ PTR {HOSTNAME}.\n"}


def doctor(inst, options, nameserver, *extra):
    """Run mailctl doctor --json with `nameserver` as the resolver; returns the
    exit status and {check: result}."""
    original = inst.config.read_text()
    inst.add_config(f'[outbound]\nnameservers = ["{nameserver}"]\n')
    try:
        proc = inst.mailctl("doctor", "--json", *options, *extra, check=False)
    finally:
        inst.config.write_text(original)
    return proc.returncode, {r["check"]: r for r in json.loads(proc.stdout)}


def dns_results(results):
    return {name: r for name, r in results.items() if name.startswith(DNS_CHECKS)}


def test_a_correct_zone_passes_every_check(server, tmp_path):
    inst, options = server
    # The probe named, not given as an address: found through the same resolver.
    probe_port = options[-1].rpartition(":")[2]
    with Knot(tmp_path / "knot", good_zones(inst)) as knot:
        status, results = doctor(inst, options, knot.nameserver,
                                 "--smtp-probe", f"{HOSTNAME}:{probe_port}")
    checked = dns_results(results)
    selectors = {k.selector for k in dkimkeys.KeyStore(inst.state).keys(DOMAIN)}
    assert set(checked) == {f"mx {DOMAIN}", f"address {HOSTNAME}", f"ptr {ADDRESS}",
                            f"spf {DOMAIN}", f"dmarc {DOMAIN}", f"mta-sts {DOMAIN}",
                            f"tls-rpt {DOMAIN}"} | {
        f"dkim {s}._domainkey.{DOMAIN}" for s in selectors}
    assert all(r["verdict"] == "ok" for r in checked.values()), checked
    assert results["outbound port 25"] == {
        "check": "outbound port 25", "verdict": "ok", "advice": "",
        "detail": f"connected to {HOSTNAME} ({ADDRESS}) port {probe_port}"}
    assert [r for r in results.values() if r["verdict"] == "fail"] == []
    assert status == 0


def _replace(old, new):
    def edit(zones):
        assert old in zones[DOMAIN]
        zones[DOMAIN] = zones[DOMAIN].replace(old, new)
    return edit


def _no_ptr(zones):
    zones[REVERSE] = ""


def _ptr_elsewhere(zones):
    zones[REVERSE] = "@ PTR host.example.net.\n"


def _other_dkim_key(zones):
    """The ed25519 selector's record, with a key the store never made."""
    with tempfile.TemporaryDirectory() as other:
        store = dkimkeys.KeyStore(other)
        key = store.txt(store.generate(DOMAIN, "ed25519"))
    lines = zones[DOMAIN].splitlines()
    index = next(i for i, line in enumerate(lines) if "k=ed25519" in line)
    lines[index] = f"{lines[index].split()[0]} TXT {dnsrecords.txt_data(key)}"
    zones[DOMAIN] = "\n".join(lines) + "\n"


PTR, SPF = f"ptr {ADDRESS}", f"spf {DOMAIN}"
BROKEN = [
    # (what, the zones' edit, {each check that must fail: words of its detail}):
    # a wrong MX also takes this host out of SPF's mx, a wrong address out of the
    # PTR's forward confirmation.
    ("no PTR", _no_ptr, {PTR: "no PTR record"}),
    ("PTR to another name", _ptr_elsewhere, {PTR: "names host.example.net"}),
    ("SPF without this host", _replace('"v=spf1 mx -all"', '"v=spf1 ip4:192.0.2.1 -all"'),
     {SPF: "does not list this host"}),
    ("no SPF", _replace('"v=spf1 mx -all"', '"no policy here"'),
     {SPF: "no SPF record"}),
    ("a DKIM key that does not match", _other_dkim_key,
     {"dkim ": "not the key that signs"}),
    ("a broken DMARC record", _replace("v=DMARC1; p=none;", "v=DMARC1; p=maybe;"),
     {f"dmarc {DOMAIN}": "p= must be none, quarantine or reject"}),
    ("no DMARC", _replace("_dmarc.", "_nodmarc."), {f"dmarc {DOMAIN}": "no DMARC record"}),
    ("MX elsewhere", _replace(f"MX 10 {HOSTNAME}.", "MX 10 mx.example.net."),
     {f"mx {DOMAIN}": "not at mail.example.test", SPF: "does not list this host"}),
    ("an address of another machine", _replace(f"mail A {ADDRESS}", "mail A 192.0.2.7"),
     {f"address {HOSTNAME}": "not this machine", PTR: "does not resolve to"}),
    ("a broken MTA-STS record", _replace("v=STSv1; id=", "v=STSv1; version="),
     {f"mta-sts {DOMAIN}": "id= must be"}),
    ("a broken TLS-RPT record", _replace("v=TLSRPTv1; rua=mailto:postmaster@example.test",
                                         "v=TLSRPTv1"),
     {f"tls-rpt {DOMAIN}": "no rua="}),
]


@pytest.mark.parametrize("what,edit,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_wrong_record_fails_its_check(server, tmp_path, what, edit, expected):
    inst, options = server
    zones = good_zones(inst)
    edit(zones)
    with Knot(tmp_path / "knot", zones) as knot:
        status, results = doctor(inst, options, knot.nameserver)
    failed = {name: r for name, r in dns_results(results).items()
              if r["verdict"] != "ok"}
    assert len(failed) == len(expected), failed
    for prefix, words in expected.items():
        [result] = [r for name, r in failed.items() if name.startswith(prefix)]
        assert result["verdict"] == "fail", result
        assert words in result["detail"] and result["advice"], result
    assert status == 1


def test_no_tls_rpt_record_is_a_warning(server, tmp_path):
    inst, options = server
    zones = good_zones(inst)
    _replace("_smtp._tls.", "_nothing._tls.")(zones)
    with Knot(tmp_path / "knot", zones) as knot:
        status, results = doctor(inst, options, knot.nameserver)
    assert results[f"tls-rpt {DOMAIN}"]["verdict"] == "warn"
    assert status == 0


def test_a_stopped_dns_server_fails_every_dns_check(server, tmp_path):
    inst, options = server
    knot = Knot(tmp_path / "knot", good_zones(inst))
    knot.start()
    knot.stop()
    status, results = doctor(inst, options, knot.nameserver, "--timeout", "0.5")
    checked = dns_results(results)
    assert len(checked) >= 8
    for result in checked.values():
        assert result["verdict"] == "fail", result
        assert knot.nameserver in result["detail"], result
    assert status == 1


def test_a_silent_dns_server_fails_every_dns_check_in_its_timeout(server):
    """A server that takes queries and never answers: each lookup ends at its
    timeout and says so."""
    inst, options = server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        nameserver = f"127.0.0.1:{silent.getsockname()[1]}"
        status, results = doctor(inst, options, nameserver, "--timeout", "0.3")
    checked = dns_results(results)
    assert len(checked) >= 8
    for result in checked.values():
        assert result["verdict"] == "fail", result
        assert f"from {nameserver} within 0.3 s" in result["detail"], result
    assert status == 1
