"""The header fields the SMTP services add on top of a message: Received (RFC 5321
4.4) on every message, and for submission the Message-ID and Date a client left
out (RFC 6409 8.2, 8.3).

    received(hostname, qid, protocol, client, tls_info, recipients,
             client_name=None) -> bytes
    missing_fields(head, qid, hostname) -> bytes;  has_field(head, name) -> bool
    date_now() -> str

Nothing a client sent goes into a field unchecked: its EHLO name is cut to
printable ASCII without spaces.
"""

import re
import secrets
import time
from email.utils import formatdate

_date = (0, "")


def date_now():
    """The RFC 5322 date of this second (formatting it per message is costly)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, localtime=True))
    return _date[1]


def received(hostname, qid, protocol, client, tls_info, recipients,
             client_name=None):
    """The Received field. `client` is (EHLO name, IP address), or None to leave
    out where the message came from; `client_name` the name DNS confirms for the
    address (smtp.defences.iprev), if any; `protocol` is the "with" keyword (RFC 3848);
    `tls_info` is the stream's (version, cipher) or None."""
    origin = ""
    if client is not None:
        helo, ip = client
        helo = "".join(ch if 32 < ord(ch) < 127 else "?" for ch in helo or "unknown")
        # RFC 5321 4.4: TCP-info, the address with the name DNS confirms for it.
        tcp_info = f"{client_name} [{ip}]" if client_name else f"[{ip}]"
        origin = f"from {helo} ({tcp_info})\r\n\t"
    tls = f"\r\n\t(using {tls_info[0]} with cipher {tls_info[1]})" if tls_info else ""
    # One recipient only: naming one of several would tell the others of a Bcc.
    rcpt = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
    return (f"Received: {origin}by {hostname} (mailsuite) with {protocol} id {qid}"
            f"{tls}{rcpt};\r\n\t{date_now()}\r\n").encode()


def has_field(head, name):
    """Whether the header section `head` has a field called `name`."""
    pattern = rb"(?:^|\r\n)" + re.escape(name.encode()) + rb"[ \t]*:"
    end = head.find(b"\r\n\r\n")
    return re.search(pattern, head[:end] if end >= 0 else head, re.IGNORECASE) is not None


def missing_fields(head, qid, hostname):
    """Message-ID and Date fields for a message whose header section `head`
    lacks them (RFC 6409 8.2, 8.3: a submission server may add them; RFC 5322
    3.6 requires a Date and asks for a Message-ID)."""
    out = b""
    if not has_field(head, "Message-ID"):
        # RFC 5322 3.6.4: unique, with a domain of ours on the right.
        unique = f"{qid}.{secrets.token_hex(6)}"
        out += f"Message-ID: <{unique}@{hostname}>\r\n".encode()
    if not has_field(head, "Date"):
        out += f"Date: {date_now()}\r\n".encode()
    return out
