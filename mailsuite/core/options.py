"""The options of mailsuite.toml: one schema (`SCHEMA`) of every section's keys,
their types, defaults and help. core.config reads and checks a file against it;
tools/genman.py writes mailsuite.toml(5) from it.
"""

import socket
from dataclasses import dataclass

# What may end a local part's user name: atext (RFC 5322 3.2.3) that is neither a
# letter, a digit, nor the dot that separates a dot-atom's atoms.
DELIMITERS = "+-_=#~&"

@dataclass(frozen=True)
class Option:
    section: str
    key: str
    default: object
    type: type
    help: str
    is_path: bool = False
    required: bool = False
    shown_default: str | None = None   # the default in words, when it is computed
    empty_ok: bool = False      # a string that may be set to "" (which turns it off)


def machine_hostname():
    """This machine's fully qualified name, the default of server.hostname (as
    Postfix's myhostname): the kernel's host name when it has a dot, else the
    canonical name the resolver gives for it (/etc/hosts, DNS), else the bare name."""
    name = socket.gethostname()
    if "." in name:
        return name
    try:
        canonical = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)[0][3]
    except (OSError, IndexError):
        canonical = ""
    return canonical.rstrip(".") if "." in canonical else name


def engine_options(section, sessions, per_address, who):
    """The limits of the SMTP engine (mailsuite.smtp), for the section of one daemon
    that runs it: every such daemon has the same keys, with its own defaults.
    `who` is a sentence about each session limit's default."""
    return [
        Option(section, "max_message_size", 52428800, int,
               "The largest message accepted, in bytes (advertised in SIZE)."),
        Option(section, "max_recipients", 100, int,
               "The most recipients accepted for one message."),
        Option(section, "max_header_size", 1048576, int,
               "The largest header section accepted, in bytes."),
        Option(section, "max_errors", 10, int,
               "Errors a client may make before the session is ended."),
        Option(section, "command_timeout", 300, int,
               "Seconds to wait for a command (RFC 5321 4.5.3.2.7 asks for 5 "
               "minutes)."),
        Option(section, "data_timeout", 600, int,
               "Seconds to wait for the message data to end (DATA, or all the "
               "BDAT chunks of one message)."),
        Option(section, "max_sessions", sessions, int,
               "Clients served at once; one more is answered `421 4.7.0` (try "
               "again later) and disconnected, and the client retries later. "
               f"{who[0]} 0 is no limit. Each session holds a file descriptor: the "
               "service unit's LimitNOFILE= must leave room."),
        Option(section, "max_sessions_per_address", per_address, int,
               "Clients served at once from one IP address (an IPv6 /64 counts as "
               f"one address), so that one host cannot take every session. {who[1]} "
               "0 is no limit."),
    ]


def mx_options():
    """The MX's own keys in [smtpd]: recipients and the defences before content."""
    return [
        Option("smtpd", "recipient_delimiter", "+", str,
               "Plus-addressing: the characters that end the user's part of a local "
               "part, as Postfix's recipient_delimiter. `user+tag@domain` reaches "
               "`user@domain` and goes into its folder `tag` when the mailbox has "
               "one (any case), else into the INBOX; a user or alias named with the "
               "delimiter wins. Also applied by deliverd and submitd. \"\" turns "
               "it off.", empty_ok=True),
        Option("smtpd", "exempt_networks", ("127.0.0.0/8", "::1/128"), list,
               "Networks (like \"192.0.2.0/24\" or \"2001:db8::/64\") whose "
               "clients skip the MX's defences: the greeting pause, the connection "
               "rate, reverse DNS and HELO checks, greylisting and DNSBLs. Their "
               "recipients are checked as anyone's. Loopback by default, as "
               "Postfix's mynetworks."),
        Option("smtpd", "greet_pause", 3.0, float,
               "Seconds the MX waits before its greeting; a client that talks in "
               "that time (RFC 5321 4.3.1: it must wait for the greeting) is "
               "answered `554 5.5.1` and dropped, as most spam software does not "
               "wait. An address (an IPv6 /64) that waited once is greeted at "
               "once for a day. Postfix's postscreen waits 6 s; 0 turns it off."),
        Option("smtpd", "connection_rate", 60, int,
               "Connections one client address (an IPv6 /64 counts as one) may "
               "open per minute, a sliding window; one more is answered `421 "
               "4.7.0` and the client retries later. 0 is no limit."),
        Option("smtpd", "dns_timeout", 10.0, float,
               "Seconds one DNS lookup of the connection checks (reverse DNS, "
               "HELO name, DNSBL zones) may take; a lookup that takes longer is "
               "recorded as a temporary error (temperror)."),
    ]


SCHEMA = [
    Option("server", "hostname", machine_hostname, str,
           "The fully qualified name of this mail server, used in greetings and "
           "Received headers. It must resolve to this host in public DNS.",
           shown_default="the machine's fully qualified name "
                         "(`hostname --fqdn`)"),
    Option("server", "state_dir", "/var/lib/mailsuite", str,
           "Where accounts, the queue, mailboxes and keys live.", is_path=True),
    Option("server", "runtime_dir", "/run/mailsuite", str,
           "Where the programs leave their wake-up sockets.", is_path=True),
    Option("server", "idle_exit", 300, int,
           "Seconds a program waits with no client before it exits; systemd starts it "
           "again on the next connection. 0 keeps it running."),
    Option("server", "log_level", "info", str,
           "One of debug, info, warning, error."),
    Option("tls", "cert", "/etc/mailsuite/tls/cert.pem", str,
           "The certificate chain (PEM) offered by every TLS listener; reloaded when "
           "the file changes.", is_path=True),
    Option("tls", "key", "/etc/mailsuite/tls/key.pem", str,
           "The private key (PEM) for the certificate.", is_path=True),
    *engine_options("smtpd", sessions=500, per_address=50, who=(
        "Postfix runs 100 smtpd processes by default; a session here costs far "
        "less than a process.", "A big sender may open tens of sessions at once "
        "to deliver a backlog; Postfix's smtpd_client_connection_count_limit, "
        "with its default.")),
    *mx_options(),
    *engine_options("submitd", sessions=100, per_address=20, who=(
        "Users' mail clients, far fewer than the MX's peers.", "A household or "
        "an office shares one address; a client opens a session or two to send.")),
    Option("submitd", "received_client_address", False, bool,
           "Show the client's IP address and EHLO name in the Received field "
           "added to submitted mail. Off by default, so that a message does not "
           "tell its readers where its sender was (RFC 6409 8 leaves it to the "
           "site)."),
    Option("submitd", "rate_limit", 200, int,
           "Messages one user may submit per hour (a sliding window); one more "
           "is answered `450 4.7.1` and the client tries later. 0 is no limit."),
    Option("submitd", "relay_networks", (), list,
           "Networks (like \"192.0.2.0/24\" or \"2001:db8::/64\") whose clients "
           "may submit without AUTH, such as printers and scanners that cannot "
           "log in; their sender addresses are not checked. Empty by default: "
           "every client must log in."),
    Option("imapd", "plaintext_loopback", False, bool,
           "Allow LOGIN and AUTHENTICATE without TLS from loopback addresses."),
    Option("imapd", "max_message_size", 67108864, int,
           "The largest message a client may store with APPEND, in bytes "
           "(advertised as APPENDLIMIT, RFC 7889)."),
    Option("imapd", "imap4rev2", True, bool,
           "Advertise IMAP4rev2 (RFC 9051) beside IMAP4rev1; a client that ENABLEs "
           "it gets IMAP4rev2's rules (docs/decisions/0012). false takes it away "
           "from a client that mishandles it."),
    Option("imapd", "idle_timeout", 1800, int,
           "Seconds an authenticated session may stay silent (RFC 9051 5.4: at "
           "least 30 minutes)."),
    Option("imapd", "max_sessions", 1000, int,
           "Clients served at once; one more is answered `* BYE too many "
           "connections` and disconnected. As Dovecot's default_client_limit. "
           "0 is no limit. Each session holds a few file descriptors: the service "
           "unit's LimitNOFILE= must leave room."),
    Option("imapd", "max_sessions_per_address", 50, int,
           "Clients served at once from one IP address (an IPv6 /64 counts as one "
           "address). A mail client keeps a few sessions per account (one per "
           "folder it watches), and a household or an office shares one address; "
           "Dovecot's mail_max_userip_connections allows 10 per user and address. "
           "0 is no limit."),
    Option("pop3d", "plaintext_loopback", False, bool,
           "Allow USER/PASS and AUTH without TLS from loopback addresses."),
    Option("pop3d", "idle_timeout", 600, int,
           "Seconds a logged-in session may stay silent (RFC 1939 3: at least 10 "
           "minutes); then it ends without deleting anything."),
    Option("pop3d", "max_errors", 10, int,
           "Protocol errors (unknown commands, commands in the wrong state, bad "
           "arguments, over-long lines) a client may make before the session is "
           "ended."),
    Option("pop3d", "max_sessions", 1000, int,
           "Clients served at once; one more is answered `-ERR [SYS/TEMP] too many "
           "connections` and disconnected. 0 is no limit. Each session holds a few "
           "file descriptors: the service unit's LimitNOFILE= must leave room."),
    Option("pop3d", "max_sessions_per_address", 50, int,
           "Clients served at once from one IP address (an IPv6 /64 counts as one "
           "address), so that one host cannot take every session; a mailbox has one "
           "POP3 session at a time anyway, but many users may share an address. "
           "0 is no limit."),
    Option("davd", "max_sessions", 1000, int,
           "HTTPS connections served at once; one more is answered `503` and "
           "closed. 0 is no limit. Each holds a few file descriptors: the service "
           "unit's LimitNOFILE= must leave room."),
    Option("davd", "max_sessions_per_address", 50, int,
           "HTTPS connections served at once from one IP address (an IPv6 /64 "
           "counts as one address). A calendar client keeps one or two. 0 is no "
           "limit."),
    Option("davd", "max_request_body", 16777216, int,
           "The largest request body accepted, in bytes (a calendar event or a "
           "contact with its photo); a larger one is answered 413. A body over "
           "1 MiB is held in a temporary file while it is handled."),
    Option("davd", "request_timeout", 30, int,
           "Seconds a client may take to send a request's line and header fields; "
           "a slower one is answered 408 and closed."),
    Option("davd", "body_timeout", 120, int,
           "Seconds a client may take to send a request's body; a slower one is "
           "answered 408 and closed."),
    Option("davd", "idle_timeout", 60, int,
           "Seconds a kept-alive connection may wait for its next request; then "
           "it is closed."),
    Option("login", "cache_ttl", 300, int,
           "Seconds a verified login is remembered, so that a client's next "
           "connections do not pay for the password hash again (as Dovecot's "
           "auth_cache_ttl, for successful logins only). A password change or a "
           "disabled account ends it at once. 0 turns the cache off."),
    Option("login", "cache_size", 10000, int,
           "The most logins the cache remembers (as Dovecot's auth_cache_size, but "
           "counted in logins); the oldest are forgotten first."),
    Option("login", "failure_window", 900, int,
           "Seconds over which failed logins are counted for address_failures and "
           "account_failures: a sliding window, so a limit lifts as its oldest "
           "failures age out."),
    Option("login", "address_failures", 20, int,
           "Failed logins from one client address (an IPv6 /64 counts as one) within "
           "failure_window, after which its further attempts are refused at once "
           "with a temporary error, without checking the password (the work "
           "fail2ban does for Dovecot). 0 turns the limit off."),
    Option("login", "account_failures", 50, int,
           "Failed logins to one account, from all addresses together, within "
           "failure_window, after which further attempts on it are refused in the "
           "same way. An address that has logged in to the account successfully is "
           "exempt, so that guessing cannot lock the user out. 0 turns the limit "
           "off."),
    Option("login", "failure_delay", 1.0, float,
           "Seconds before the first failed login from an address is answered (as "
           "Dovecot's auth_failure_delay); the delay doubles with each further "
           "failure from that address within failure_window, up to "
           "failure_delay_max."),
    Option("login", "failure_delay_max", 15.0, float,
           "The longest delay, in seconds, before a failed login is answered (as "
           "Dovecot's auth penalty, which stops at 15 seconds)."),
    Option("deliverd", "scan_interval", 60, int,
           "Seconds between scans of the queue, besides wake-ups."),
    Option("deliverd", "retry_max", 432000, int,
           "Seconds a message may stay in the queue before it is returned."),
    Option("dkim", "sign", True, bool,
           "Sign submitted mail with the sender domain's DKIM keys (`mailctl dkim "
           "generate`): Ed25519 and RSA when the domain has both. false keeps "
           "the keys but signs nothing."),
    Option("dkim", "rsa_bits", 2048, int,
           "The size of the RSA keys `mailctl dkim generate` and `rotate` make, "
           "from 2048 to 4096 (RFC 8301 3.2: verifiers take up to 4096)."),
    Option("outbound", "nameservers", [], list,
           "The DNS servers asked for MX and address records, as \"address\" or "
           "\"address:port\" (\"[address]:port\" for IPv6). Empty: the system's "
           "resolver (/etc/resolv.conf)."),
    Option("outbound", "dns_timeout", 30.0, float,
           "Seconds one destination's DNS lookups may take in all."),
    Option("outbound", "smtp_port", 25, int,
           "The port of the receiving servers. Only tests and benchmarks, whose "
           "MX hosts share one machine, change it."),
    Option("outbound", "connect_timeout", 30, int,
           "Seconds to wait for a TCP connection and the server's greeting "
           "(Postfix's smtp_connect_timeout), before the next address is tried."),
    Option("outbound", "command_timeout", 300, int,
           "Seconds to wait for a reply to a command (RFC 5321 4.5.3.2 asks for 5 "
           "minutes); the reply after the message data may take twice as long."),
    Option("outbound", "max_connections", 100, int,
           "Outbound SMTP connections open at once, to all destinations together "
           "(Postfix's default_process_limit)."),
    Option("outbound", "max_per_destination", 20, int,
           "Outbound SMTP connections open at once to one destination domain "
           "(Postfix's default_destination_concurrency_limit)."),
    Option("outbound", "backoff_min", 300, int,
           "Seconds before a message deferred by a remote server is tried again "
           "the first time; the wait doubles with each attempt, with some random "
           "spread (Postfix's minimal_backoff_time)."),
    Option("outbound", "backoff_max", 4000, int,
           "The longest wait between two attempts, in seconds (Postfix's "
           "maximal_backoff_time)."),
    Option("outbound", "breaker_failures", 3, int,
           "Attempts in a row that reach no host of a destination (DNS failures, "
           "connections refused or timed out), after which its mail waits "
           "breaker_cooldown seconds without being tried (a circuit breaker). "
           "0 turns it off."),
    Option("outbound", "breaker_cooldown", 300, int,
           "Seconds a destination's mail waits once its circuit breaker is open; "
           "then one attempt decides whether it closes."),
    Option("outbound", "routes", {}, dict,
           "Per-domain routes, an inline table: domain = [hosts], each host as "
           "relay_host is written, tried in order until one answers (failover); "
           "no MX is looked up for these domains, and no login is made. "
           "Example: routes = { \"example.com\" = [\"10.0.0.5:25\", "
           "\"backup.example.net\"] }. A route wins over relay_host."),
    Option("outbound", "relay_host", "", str,
           "Send all outbound mail through this server (a smarthost) instead of "
           "the recipients' MX hosts: \"name\", \"name:port\", \"address:port\" "
           "or \"[IPv6 address]:port\"; the port defaults to 25. Empty: deliver "
           "directly. Many home and VPS networks block port 25 outbound."),
    Option("outbound", "relay_user", "", str,
           "The user name to log in to relay_host with (AUTH PLAIN, only over "
           "STARTTLS). Empty: no login."),
    Option("outbound", "relay_password_file", "", str,
           "A file holding the password for relay_user, on its first line; keep "
           "it readable by the mailsuite user only.", is_path=True),
    Option("outbound", "delay_warning", 14400, int,
           "Seconds after which a sender whose message is still being retried is "
           "told so once (a delay notice, RFC 3464). 0 sends none."),
    Option("outbound", "mta_sts", True, bool,
           "Honour the recipient domains' MTA-STS policies (RFC 8461): fetched "
           "over HTTPS from mta-sts.<domain>, kept in the state dir for their "
           "max_age; in enforce mode, mail goes only to the MX hosts the policy "
           "names, over TLS with a certificate valid for their name."),
    Option("outbound", "mta_sts_timeout", 60, int,
           "Seconds a fetch of an MTA-STS policy may take (RFC 8461 3.3 asks for "
           "at least a minute)."),
    Option("outbound", "dane", True, bool,
           "Honour DANE TLSA records (RFC 7672) of MX hosts whose DNS records "
           "were validated. Only the AD bit of the servers in nameservers is "
           "believed, so DANE needs nameservers to name a validating resolver "
           "on a trusted path, such as a local unbound (\"127.0.0.1\")."),
    Option("outbound", "ca_file", "", str,
           "A file of CA certificates (PEM) trusted, besides the system's, when "
           "MTA-STS asks for a valid certificate (policy servers and MX hosts). "
           "Empty: the system's only.", is_path=True),
    Option("health", "token", "", str,
           "A secret that lets a monitoring system read davd's /health and "
           "/metrics from another address, sent as `Authorization: Bearer "
           "TOKEN`. Empty: only clients on loopback may read them."),
    Option("health", "min_free_mib", 256, int,
           "Free MiB under the state directory below which /health reports the "
           "disk as nearly full (503)."),
    Option("health", "ports", (), list,
           "The ports /health looks for, as \"NAME=PORT\" (like \"imap=1143\"), "
           "where the daemons listen elsewhere than their socket units say. Only "
           "`make run` and tests set it; in production the units name them."),
    Option("acmed", "enabled", True, bool,
           "Get and renew the certificate of tls.cert and tls.key from an ACME CA "
           "(acmed: at each start, daily by its timer). false: manage them "
           "yourself; acmed then only redirects HTTP to HTTPS, and `mailctl cert "
           "renew` still works."),
    Option("acmed", "directory", "https://acme-v02.api.letsencrypt.org/directory",
           str, "The ACME directory URL of the CA. Let's Encrypt's staging "
           "directory, for trials that count against no limit (its certificates "
           "are not trusted): https://acme-staging-v02.api.letsencrypt.org/"
           "directory."),
    Option("acmed", "email", "", str,
           "The contact address given to the CA for the account (expiry notices). "
           "Empty: none."),
    Option("acmed", "names", ["autoconfig.{domain}", "mta-sts.{domain}"], list,
           "The names the certificate covers besides server.hostname; {domain} "
           "stands for each local domain in turn. Each must resolve to this host: "
           "the CA checks it over HTTP on port 80 (HTTP-01)."),
    Option("acmed", "key_type", "ecdsa", str,
           "The certificate's key: ecdsa (P-256) or rsa (2048 bits, for very old "
           "clients)."),
    Option("acmed", "renew_days", 30, int,
           "Renew when the certificate expires within this many days (the CA's "
           "renewal window, ARI, needs a newer python3-acme)."),
    Option("acmed", "hook", "", str,
           "A command run after each renewal (split like a shell line, no shell), "
           "with MAILSUITE_CERT and MAILSUITE_KEY in its environment: for example "
           "a script that publishes the new TLSA records (DANE). Its failure is "
           "logged. Empty: none."),
    Option("acmed", "ca_bundle", "", str,
           "CA certificates (PEM) trusted for the directory's HTTPS instead of the "
           "system's: only for a test CA such as pebble. Empty: the system's.",
           is_path=True),
    Option("greylist", "enabled", False, bool,
           "Greylist at RCPT (RFC 6647): the first message of a new (client "
           "network, sender, recipient) triplet is answered `451 4.7.1`, and "
           "its retry after `delay` goes through. A client network is an IPv4 /24 "
           "or an IPv6 /64. Clients of smtpd.exempt_networks skip it. Off by "
           "default: it delays a new correspondent's first message."),
    Option("greylist", "delay", 300, int,
           "Seconds a new triplet waits before its retry passes (postgrey's "
           "default)."),
    Option("greylist", "retry_window", 172800, int,
           "Seconds after its first attempt within which a triplet's retry "
           "passes; a later one starts again as new (postgrey's two days)."),
    Option("greylist", "expiry", 3024000, int,
           "Seconds a triplet that passed is let through at once after its last "
           "message (postgrey's 35 days)."),
    Option("dnsbl", "zones", (), list,
           "DNS blocklists (RFC 5782) the MX asks about each client's address "
           "from the connection on, like \"zen.spamhaus.org\"; through "
           "outbound.nameservers (a list may refuse a public resolver). Clients "
           "of smtpd.exempt_networks are not looked up. Empty by default."),
    Option("dnsbl", "action", "reject", str,
           "What a listing does: \"reject\" answers each recipient but the "
           "postmaster `554 5.7.1`; \"record\" only logs it."),
    Option("rspamd", "enabled", False, bool,
           "Hand each message the MX takes to rspamd (its normal worker, HTTP "
           "/checkv2) at the end of the data and act on its action: \"reject\" "
           "is refused `550 5.7.1`, \"soft reject\" deferred `451 4.7.1`, \"add "
           "header\" and \"rewrite subject\" go to junk_folder; every message "
           "taken gets X-Spam, X-Spam-Action and X-Spam-Score fields. An rspamd "
           "that does not answer is logged and the message taken unchecked."),
    Option("rspamd", "address", "127.0.0.1:11333", str,
           "rspamd's normal worker: \"address:port\" or \"name:port\" "
           "(\"[address]:port\" for IPv6)."),
    Option("rspamd", "timeout", 20.0, float,
           "Seconds to wait for rspamd's verdict on one message."),
    Option("rspamd", "max_size", 20971520, int,
           "Larger messages, in bytes, are not sent to rspamd."),
    Option("rspamd", "junk_folder", "Junk", str,
           "The folder deliverd puts a message in when rspamd says it is spam "
           "but not bad enough to refuse."),
    Option("mailauth", "checks", True, bool,
           "Check the sender of mail received by smtpd: SPF (RFC 7208), DKIM "
           "(RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489), recorded in an "
           "Authentication-Results field (RFC 8601) on top of the message. The "
           "DNS servers asked are `[outbound] nameservers`."),
    Option("mailauth", "enforce", True, bool,
           "Act on the sender domain's DMARC policy when a message fails: "
           "p=reject is refused with 550 5.7.1 at the end of the data, "
           "p=quarantine goes to the recipient's quarantine_folder. false "
           "records the results and delivers to the INBOX."),
    Option("mailauth", "quarantine_folder", "Junk", str,
           "The folder of the recipient's mailbox where quarantined mail goes "
           "(made when missing)."),
    Option("mailauth", "dns_timeout", 5.0, float,
           "Seconds one DNS lookup of the checks may take."),
    Option("mailauth", "dns_budget", 10.0, float,
           "Seconds all DNS lookups of one message may take: once when MAIL FROM "
           "starts SPF, once more for DKIM, ARC and DMARC at the end of the "
           "data. A lookup past it is a temperror result."),
    Option("mailauth", "verify_max_size", 10485760, int,
           "The largest message, in bytes, whose DKIM signatures and ARC chain "
           "are verified (the verifier holds the whole message in memory); a "
           "larger signed one gets dkim=policy."),
]

# Shown in the sample file for the options whose default is computed.
EXAMPLES = {("server", "hostname"): "mail.example.org"}
