"""What SEARCH, SORT and THREAD compare about a message, taken from its header once:
the sent date, the subject and its base subject (RFC 5256 2.1), the address fields
as text and their sort keys (RFC 5256 3, RFC 5957), and the message-ids threading
follows (RFC 5256 4, REFERENCES).

    keys(head, internaldate) -> {column code: bytes}   # core.mailcolumns stores these
    base_subject(subject) -> (base, is_reply_or_forward)
    message_ids(text) -> [msg-id]

Text to be searched is casefolded here, once, so that a search only casefolds its
own string; sort keys are in the form their comparison needs (RFC 5256 2.2
i;ascii-casemap: ASCII letters in upper case), so that sorting compares bytes. The
fields are picked from the header with one regular expression and the usual shapes
of dates and address lists are read without the email package, which costs ten
times as much: a 100,000-message folder's keys are built in seconds.

Failure policy: whatever a header holds gives keys: a Date that cannot be parsed
is the internal date (RFC 5256 2.2), an address list the fast path does not take
goes to core.msginfo's full parser, a field without parseable addresses is
searched as its decoded text, a missing field has no key (an empty sort key).
"""

import datetime
import email.utils
import re
import struct

from . import mailaddress, msginfo
from .msgtext import decode_words, header_value

# Column codes (core.mailcolumns): one byte each.
DATE = b"d"              # struct DATE_VALUE: sent time (UTC), sent day as written
SUBJECT = b"s"           # the decoded subject, casefolded
BASE_SUBJECT = b"j"      # b"r" (reply or forward) or b"-", then the sort key
FROM, TO, CC, BCC = b"f", b"t", b"c", b"b"       # the decoded field, casefolded
SORT_FROM, SORT_TO, SORT_CC = b"F", b"T", b"C"   # RFC 5256: first addr-mailbox
DISPLAY_FROM, DISPLAY_TO = b"G", b"U"            # RFC 5957: first display name
MESSAGE_ID = b"i"        # the message's own msg-id
REFERENCES = b"r"        # the msg-ids it refers to, space-separated, oldest first
CODES = (DATE, SUBJECT, BASE_SUBJECT, FROM, TO, CC, BCC, SORT_FROM, SORT_TO,
         SORT_CC, DISPLAY_FROM, DISPLAY_TO, MESSAGE_ID, REFERENCES)
ADDRESS_FIELDS = {"from": FROM, "to": TO, "cc": CC, "bcc": BCC}
MAX_REFERENCES = 100     # msg-ids kept of a References field

# Sent time in seconds since the epoch, and the day the Date field names, as a
# proleptic Gregorian ordinal: SENTON and friends disregard time and timezone
# (RFC 9051 6.4.4), so 23:00 -0500 on the 3rd is the 3rd.
DATE_VALUE = struct.Struct(">qi")
EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()

_FIELDS = re.compile(
    rb"^(date|subject|from|to|cc|bcc|message-id|references|in-reply-to)[ \t]*:"
    rb"([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# RFC 5322 3.3 date-time, its usual shape: [day-name ","] d month yyyy hh:mm[:ss] zone
_DATE_TIME = re.compile(r"(?:[A-Za-z]{3},)?\s*(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+"
                        r"(\d\d):(\d\d)(?::(\d\d))?\s+([+-])(\d\d)(\d\d)\b")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
     "dec"))}
_BLOB = r"\[[^\[\]]*\][ \t]*"
# RFC 5256 5: subj-trailer, subj-leader ((*subj-blob subj-refwd) / WSP), subj-blob.
_TRAILER = re.compile(r"(?:\(fwd\)|[ \t])\Z", re.IGNORECASE)
_LEADER = re.compile(rf"(?:{_BLOB})*(?:re|fwd?)[ \t]*(?:{_BLOB})?:|[ \t]",
                     re.IGNORECASE)
_SUBJ_BLOB = re.compile(_BLOB)
_SPACES = re.compile(r"[ \t\r\n]+")
_MSG_ID = re.compile(r"<([^<>]*)>")
# RFC 5256 2.2 i;ascii-casemap: only a-z change.
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def keys(head, internaldate):
    """{code: value} for a message whose header section (bytes, wire form) is
    `head`."""
    fields = {}
    for name, value in _FIELDS.findall(head):
        fields.setdefault(name.lower().decode("ascii"), []).append(_raw_text(value))
    first = {name: values[0] for name, values in fields.items()}
    out = {DATE: sent_date(first.get("date"), internaldate)}
    subject = decode_words(first.get("subject", ""))
    base, reply = base_subject(subject)
    out[BASE_SUBJECT] = (b"r" if reply else b"-") + _ascii_key(base)
    if "subject" in first:
        out[SUBJECT] = subject.casefold().encode()
    lists = _address_lists(fields, head)
    for name, code in ADDRESS_FIELDS.items():
        if name in fields:
            out[code] = _address_text(fields[name], lists[name]).casefold().encode()
    for name, code in (("from", SORT_FROM), ("to", SORT_TO), ("cc", SORT_CC)):
        if lists[name]:
            out[code] = _ascii_key(lists[name][0][2] or "")
    for name, code in (("from", DISPLAY_FROM), ("to", DISPLAY_TO)):
        if lists[name]:
            out[code] = _display(lists[name][0]).casefold().encode()
    own = message_ids(first.get("message-id", ""))
    if own:
        out[MESSAGE_ID] = own[0].encode()
    # The last references are the closest ancestors; a thread deeper than this
    # is still threaded, by the links its other messages give.
    refs = message_ids(" ".join(fields.get("references", ())))[-MAX_REFERENCES:]
    if not refs:
        # RFC 5256 4 (1)(A): without References, the first msg-id of In-Reply-To.
        refs = message_ids(first.get("in-reply-to", ""))[:1]
    if refs:
        out[REFERENCES] = " ".join(refs).encode()
    return out


def _raw_text(value):
    """A raw field value as text, unfolded, encoded words left as they are (an
    address list is parsed before its names are decoded)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("latin-1")
    return _FOLD.sub("", text).strip(" \t")


def _ascii_key(text):
    return text.translate(_ASCII_UPPER).encode()


# dates


def sent_date(value, internaldate):
    """DATE_VALUE for a Date field's value; RFC 5256 2.2: without a Date that can
    be parsed, the internal date stands for it (its UTC day, then)."""
    if value:
        parsed = _fast_date(value) or _slow_date(value)
        if parsed is not None:
            return DATE_VALUE.pack(*parsed)
    moment = max(0, int(internaldate))
    return DATE_VALUE.pack(moment, moment // 86400 + EPOCH_DAY)


def _fast_date(value):
    match = _DATE_TIME.match(value)
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if month is None:
        return None
    day, _, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    try:
        ordinal = datetime.date(int(year), month, int(day)).toordinal()
    except ValueError:
        return None
    zone = (int(zone_h) * 3600 + int(zone_m) * 60) * (1 if sign == "+" else -1)
    moment = ((ordinal - EPOCH_DAY) * 86400 + int(hour) * 3600 + int(minute) * 60
              + int(second or 0) - zone)
    return moment, ordinal


def _slow_date(value):
    """email.utils' reading, for dates of unusual shape (obsolete zones, two-digit
    years)."""
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    try:
        return email.utils.mktime_tz(parsed), datetime.date(*parsed[:3]).toordinal()
    except (ValueError, OverflowError):
        return None


def sent_time(value):
    """The sent time in a DATE value; 0 for b"" (none)."""
    return DATE_VALUE.unpack(value)[0] if value else 0


def sent_day(value):
    """The sent day in a DATE value; -1 for b"" (none)."""
    return DATE_VALUE.unpack(value)[1] if value else -1


def day_number(year, month, day):
    """The ordinal DATE_VALUE uses for a calendar day."""
    return datetime.date(year, month, day).toordinal()


# subjects


def subject_key(value):
    """The sort key in a BASE_SUBJECT value (its first byte marks a reply)."""
    return value[1:]


def is_reply(value):
    """Whether a BASE_SUBJECT value's subject was a reply or a forward."""
    return value[:1] == b"r"


def base_subject(subject):
    """(base subject, whether the extraction removed a reply or forward marker):
    RFC 5256 2.1, steps 2 to 6, on a subject already decoded (step 1)."""
    text = _SPACES.sub(" ", subject)
    reply = False
    while True:
        # (2) trailers: "(fwd)" and white space, repeatedly.
        while (match := _TRAILER.search(text)) is not None:
            reply |= match.group(0) not in (" ", "\t")
            text = text[:match.start()]
        # (3)-(5) leaders, and a blob that leaves a non-empty base.
        text, removed = _strip_leaders(text)
        reply |= removed
        # (6) "[fwd: ... ]" around the whole subject.
        if text[:5].lower() == "[fwd:" and text.endswith("]"):
            text, reply = text[5:-1], True
            continue
        return text, reply


def _strip_leaders(text):
    removed = False
    while True:
        match = _LEADER.match(text)
        if match is not None:
            removed |= match.group(0) not in (" ", "\t")
            text = text[match.end():]
            continue
        match = _SUBJ_BLOB.match(text)
        if match is not None and text[match.end():].strip(" \t"):
            text = text[match.end():]
            continue
        return text, removed


def message_ids(text):
    """The msg-ids in a field's value, in order, "<" and ">" included and white
    space (folding) taken out."""
    return [f"<{''.join(m.split())}>" for m in _MSG_ID.findall(text) if m.strip()]


# addresses


def _address_lists(fields, head):
    """{field: [[name, adl, mailbox, host], ...]} (RFC 9051 7.5.2 addresses, the
    names decoded) of the address fields: plain lists read here, the others by
    core.msginfo's full parser."""
    lists, envelope = {}, None
    for name in ADDRESS_FIELDS:
        values = fields.get(name)
        found = [] if not values else _simple_list(", ".join(values))
        if found is None:
            envelope = envelope or msginfo.envelope(msginfo.Header(head))
            found = [_written(address) for address in envelope[_ENVELOPE_INDEX[name]]
                     or ()]
        lists[name] = found
    return lists


def _written(address):
    """An ENVELOPE address as the field has it: the parser's names for a missing
    local part or domain (core.mailaddress) are not text a search or sort sees."""
    name, adl, mailbox, host = (_latin_text(part) for part in address)
    if mailbox == mailaddress.MISSING_MAILBOX:
        mailbox = ""
    return [name, adl, mailbox, None if host == mailaddress.MISSING_DOMAIN else host]


def _latin_text(value):
    """A string msginfo.Header kept as Latin-1 characters, as real text."""
    return None if value is None else header_value(value.encode("latin-1"))


_ENVELOPE_INDEX = {"from": 2, "to": 5, "cc": 6, "bcc": 7}
_ATOMS = r'[^\s"<>(),:;@\\\[\]]+'
# One address of the plain kinds; each alternative is linear in its input (no two
# quantifiers compete for the same characters).
_ADDRESS = re.compile(
    rf'(?:\s*"((?:[^"\\]|\\.)*)"\s*|([^"<>(),:;@\\]*))<({_ATOMS})@({_ATOMS})>\s*'
    rf'|\s*({_ATOMS})@({_ATOMS})\s*')
# The items of a list: quoted strings and other characters up to a comma.
_ITEMS = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+')
_SIMPLE_MAX = 1000          # characters of an address list the fast path takes


def _simple_list(raw):
    """The addresses of a list of `addr@host`, `Name <addr@host>` and `"Name"
    <addr@host>`, or None for anything else."""
    if len(raw) > _SIMPLE_MAX:
        return None
    items = _ITEMS.findall(raw)
    if ",".join(items) != raw:
        return None
    out = []
    for item in items:
        match = _ADDRESS.fullmatch(item)
        if match is None:
            return None
        quoted, plain, mailbox, host, bare_mailbox, bare_host = match.groups()
        name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
        name = decode_words(name.strip()) if name else None
        out.append([name or None, None, mailbox or bare_mailbox, host or bare_host])
    return out


def _address_text(values, addresses):
    """An address field as a search sees it: each address as `name <box@host>`,
    groups as `group: ...;`; the decoded field if no address was found."""
    parts = []
    # RFC 9051 7.5.2: a group starts with (NIL NIL name NIL), which a bare local
    # part without host resembles; the group's end (all NIL) tells them apart.
    ends = [i for i, address in enumerate(addresses) if address[2] is None]
    for i, (display, _, mailbox, host) in enumerate(addresses):
        if mailbox is None:
            parts.append(";")
        elif host is None and display is None and ends and ends[-1] > i:
            parts.append(f"{mailbox}:")
        else:
            spec = f"{mailbox}@{host}" if host else mailbox
            parts.append(f"{display.strip()} <{spec}>" if display else spec)
    if not parts:
        return "\n".join(decode_words(v) for v in values)
    text = ", ".join(parts)
    return text.replace(":, ", ": ").replace(", ;", ";").replace(";,", ";")


def _display(address):
    """RFC 5957: the display name of an address; without one, the address
    itself (a group, its name)."""
    display, _, mailbox, host = address
    name = display.strip() if display else ""
    if name:
        return name
    return f"{mailbox}@{host}" if mailbox and host else (mailbox or "")
