"""The DNS records a mail domain publishes, in zone-file form (RFC 1035 5.1):
what `mailctl dkim dns` and `mailctl dns` print.

    Record(name, type, data)       # absolute name; data in zone-file syntax
    zone_line(record, ttl=TTL) -> str;   txt_data(text) -> str
    dkim_records(store, domain) -> [Record]     # every key, signing or not
    domain_records(domain, hostname, dkim) -> [Record | str]  # str: a comment
    mta_sts_policy(hostname) -> str;  mta_sts_id(policy) -> str

The MTA-STS policy lives here because its id must change whenever the policy
served at https://mta-sts.<domain>/.well-known/mta-sts.txt changes (RFC 8461
3.1): the id is a digest of the policy text.
"""

import hashlib
from typing import NamedTuple

TTL = 3600
TXT_STRING_MAX = 255       # RFC 1035 3.3.14: a character-string is 1 to 255 octets
MTA_STS_MAX_AGE = 604800   # RFC 8461 3.2: a week; long enough to be useful
# RFC 6186 3.1, RFC 8314 5.1: implicit TLS first (lower priority value).
SERVICES = (("submissions", 0, 465), ("submission", 10, 587),
            ("imaps", 0, 993), ("imap", 10, 143),
            ("pop3s", 0, 995), ("pop3", 10, 110))


class Record(NamedTuple):
    name: str
    type: str
    data: str


def zone_line(record, ttl=TTL):
    return f"{record.name} {ttl} IN {record.type} {record.data}"


def txt_data(text):
    """TXT data: the text in quoted strings of at most 255 octets, one record
    (RFC 7208 3.3 and RFC 6376 3.6.2.2: a verifier joins them)."""
    raw = text.encode("ascii")
    pieces = [raw[i:i + TXT_STRING_MAX] for i in range(0, len(raw), TXT_STRING_MAX)]
    return " ".join('"' + p.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for p in pieces or [b""])


def fqdn(name):
    return name.rstrip(".") + "."


def dkim_records(store, domain):
    """The key records of every selector of `domain` (RFC 6376 3.6.2.1): an old
    selector keeps verifying the mail it signed until it is removed."""
    return [Record(fqdn(f"{key.selector}._domainkey.{key.domain}"), "TXT",
                   txt_data(store.txt(key)))
            for key in store.keys(domain)]


def mta_sts_policy(hostname):
    """The policy text (RFC 8461 3.2), CRLF line ends."""
    lines = ["version: STSv1", "mode: enforce", f"mx: {hostname}",
             f"max_age: {MTA_STS_MAX_AGE}"]
    return "".join(line + "\r\n" for line in lines)


def mta_sts_id(policy):
    # RFC 8461 3.1: 1 to 32 alphanumeric characters, changed with the policy.
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def domain_records(domain, hostname, dkim):
    """Every record `domain` needs to send and receive mail through `hostname`,
    comments (str) between the groups."""
    zone, host, postmaster = fqdn(domain), fqdn(hostname), f"postmaster@{domain}"
    policy_id = mta_sts_id(mta_sts_policy(hostname))
    out = [f"; mail for {domain}, served by {hostname}",
           f"; {host} needs A and AAAA records with this server's addresses,",
           "; and those addresses PTR records naming it back (FCrDNS).",
           Record(zone, "MX", f"10 {host}"),
           # RFC 7208 5.4: the MX hosts may send for the domain; nothing else.
           Record(zone, "TXT", txt_data("v=spf1 mx -all"))]
    if dkim:
        out += dkim
    else:
        out.append(f"; no DKIM key: run `mailctl dkim generate {domain}`")
    out += [
        # RFC 7489 6.3: p=none to start, reports to rua while it is watched.
        Record(f"_dmarc.{zone}", "TXT",
               txt_data(f"v=DMARC1; p=none; rua=mailto:{postmaster}")),
        "; MTA-STS (RFC 8461) and its reports (RFC 8460); the policy is served",
        f"; over HTTPS by mta-sts.{domain}, which needs a certificate for that name.",
        Record(f"_mta-sts.{zone}", "TXT", txt_data(f"v=STSv1; id={policy_id}")),
        Record(f"mta-sts.{zone}", "CNAME", host),
        Record(f"_smtp._tls.{zone}", "TXT",
               txt_data(f"v=TLSRPTv1; rua=mailto:{postmaster}")),
        "; how mail clients find the server (RFC 6186, RFC 8314 5.1)"]
    out += [Record(f"_{name}._tcp.{zone}", "SRV", f"{prio} 1 {port} {host}")
            for name, prio, port in SERVICES]
    out += [Record(f"autoconfig.{zone}", "CNAME", host),
            Record(f"autodiscover.{zone}", "CNAME", host),
            Record(f"_autodiscover._tcp.{zone}", "SRV", f"0 1 443 {host}")]
    return out
