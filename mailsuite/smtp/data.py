"""The message data of a DATA command: end-of-data, dot-unstuffing, line endings.

RFC 5321 4.1.1.4: the data ends with the sequence CRLF "." CRLF and nothing else.
A bare LF, or "<LF>.<LF>", "<CR>.<CR>", "<LF>.<CRLF>"…, never ends it, so a
message cannot smuggle a second one past us (SMTP smuggling, CVE-2023-51764 and
relatives). Stray CR and LF are then turned into CRLF (RFC 5321 2.3.8 allows no
other line ending), so nothing downstream can read them as line ends either.
"""

import re

END = b"\r\n.\r\n"
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def finish(raw):
    """Turn what was read (starting with the CRLF that ended the DATA command and
    ending with END) into the message bytes."""
    body = raw[:-3]                      # keep the CRLF that precedes "."
    # RFC 5321 4.5.2: "if the first character is a period and there are other
    # characters on the line, the first character is deleted".
    body = body.replace(b"\r\n.", b"\r\n")
    body = body[2:]
    if _has_bare_line_ends(body):
        body = _BARE.sub(b"\r\n", body)
    return body


def _has_bare_line_ends(data):
    crlf = data.count(b"\r\n")
    return data.count(b"\n") != crlf or data.count(b"\r") != crlf


def header_size(data):
    """Length of the header section (up to the empty line, or all of it)."""
    if data.startswith(b"\r\n"):
        return 0
    end = data.find(b"\r\n\r\n")
    return len(data) if end < 0 else end + 2


def count_received(data, limit):
    """Received: fields in the header section (stops counting at `limit`)."""
    head = data[:header_size(data)]
    count = 1 if head[:9].lower() == b"received:" else 0
    for match in re.finditer(rb"\r\nreceived:", head, re.IGNORECASE):
        count += 1
        if count >= limit:
            break
    return count
