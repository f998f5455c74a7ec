"""The SEARCH grammar (RFC 9051 6.4.4 and 9, search-program; RFC 3501 6.4.4 for NEW,
OLD and RECENT): the client's tokens become a tree of named keys, which search.py
evaluates, and SORT and THREAD use the same way (RFC 5256 3).

    parse_program(tokens) -> key        # [CHARSET name] key *(SP key)
    All, Flag, Keyword, Recent, Sequence, Saved, Size, Date, Column, Text,
    And, Or, Not                        # the key records

Strings are matched case-insensitively (RFC 9051 6.4.4: substring, the server's
choice of comparator), so they are casefolded here once. A program is bounded:
MAX_DEPTH levels of NOT, OR and parentheses, MAX_KEYS keys in all, so that a
hostile command costs bounded parsing and bounded trips to the store.

Extensions add keys to KEYS: name -> function(Reader) returning a key record, with
its evaluation in search.EVALUATE (CONDSTORE's MODSEQ, RFC 7162 3.1.5, is one).
"""

import re
from typing import NamedTuple

from ..core import msgkeys
from ..core.mailrecord import BITS
from ..core.mailsearch import BODY, TEXT
from .errors import Bad, No
from .parser import Atom, String, astring, flag, sequence_set

MAX_DEPTH = 200
MAX_KEYS = 1000
CHARSETS = ("UTF-8", "US-ASCII")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
     "dec"))}
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\Z")
_NUMBER64 = re.compile(r"\d{1,19}\Z")


class All(NamedTuple):
    pass


class Flag(NamedTuple):
    bit: int                # core.mailrecord.BITS
    present: bool


class Keyword(NamedTuple):
    name: str
    present: bool


class Recent(NamedTuple):
    present: bool


class Sequence(NamedTuple):
    ranges: list            # parser.sequence_set's (low, high), None for "*"
    uid: bool


class Saved(NamedTuple):
    """`$`: the result a SEARCH saved (RFC 5182 2.1)."""


class Size(NamedTuple):
    larger: bool            # LARGER n, else SMALLER n
    size: int


class Date(NamedTuple):
    sent: bool              # the Date field, else the internal date
    relation: str           # "before" | "on" | "since"
    day: int                # msgkeys.day_number


class Column(NamedTuple):
    code: bytes             # msgkeys column code
    needle: bytes           # casefolded UTF-8; b"": the field is present


class Text(NamedTuple):
    needle: str             # casefolded
    scope: str              # mailsearch.BODY, TEXT, or a field name


class And(NamedTuple):
    keys: tuple


class Or(NamedTuple):
    left: object
    right: object


class Not(NamedTuple):
    key: object


_FLAGS = {"ANSWERED": ("\\Answered", True), "DELETED": ("\\Deleted", True),
          "DRAFT": ("\\Draft", True), "FLAGGED": ("\\Flagged", True),
          "SEEN": ("\\Seen", True), "UNANSWERED": ("\\Answered", False),
          "UNDELETED": ("\\Deleted", False), "UNDRAFT": ("\\Draft", False),
          "UNFLAGGED": ("\\Flagged", False), "UNSEEN": ("\\Seen", False)}
_COLUMNS = {"SUBJECT": msgkeys.SUBJECT, "FROM": msgkeys.FROM, "TO": msgkeys.TO,
            "CC": msgkeys.CC, "BCC": msgkeys.BCC}
_HEADER_COLUMNS = {name.lower(): code for name, code in _COLUMNS.items()}


class Budget:
    """What a whole program may still cost: shared by the readers of its
    parenthesized lists."""

    def __init__(self):
        self.depth = 0
        self.keys = 0


class Reader:
    """The tokens of a search program (or of one parenthesized list in it), read
    left to right."""

    def __init__(self, tokens, budget=None):
        self.tokens = tokens
        self.at = 0
        self.budget = budget or Budget()

    def more(self):
        return self.at < len(self.tokens)

    def next(self, what="a search key"):
        if self.at >= len(self.tokens):
            raise Bad(f"missing {what}")
        self.at += 1
        return self.tokens[self.at - 1]

    def string(self):
        """An astring argument as casefolded text (RFC 9051 6.4.4: UTF-8, or
        US-ASCII, which is UTF-8 too)."""
        token = self.next("a search string")
        if isinstance(token, String):
            try:
                return token.decode("utf-8").casefold()
            except UnicodeDecodeError:
                raise Bad("search string is not valid UTF-8") from None
        return astring(token).casefold()


def parse_program(tokens):
    """`[CHARSET name SP] key *(SP key)` -> one key (an And of several)."""
    reader = Reader(tokens)
    first = tokens[0] if tokens else None
    if isinstance(first, Atom) and first.upper() == "CHARSET":
        reader.next()
        check_charset(reader.next("a charset"))
    return parse_keys(reader)


def check_charset(token):
    # RFC 9051 6.4.4: a charset we do not support is a NO with BADCHARSET.
    name = astring(token).upper()
    if name not in CHARSETS:
        raise No(f"charset {name[:40]} is not supported",
                 f"BADCHARSET ({' '.join(CHARSETS)})")


def parse_keys(reader):
    keys = [parse_key(reader)]
    while reader.more():
        keys.append(parse_key(reader))
    return keys[0] if len(keys) == 1 else And(tuple(keys))


def parse_key(reader):
    token = reader.next()
    reader.budget.keys += 1
    if reader.budget.keys > MAX_KEYS:
        raise Bad("search program too long", "LIMIT")
    if isinstance(token, list):
        if not token:
            raise Bad("empty parenthesized search keys")
        return _nested(reader, lambda: parse_keys(Reader(token, reader.budget)))
    if not isinstance(token, Atom):
        raise Bad("expected a search key")
    name = token.upper()
    if name[:1].isdigit() or name[:1] in "*$":
        return _sequence(token, uid=False)
    parse = _KEYS.get(name) or KEYS.get(name)
    if parse is None:
        raise Bad(f"unknown search key {name[:40]}")
    return parse(reader)


def _nested(reader, parse):
    reader.budget.depth += 1
    if reader.budget.depth > MAX_DEPTH:
        raise Bad("search keys nested too deeply", "LIMIT")
    try:
        return parse()
    finally:
        reader.budget.depth -= 1


def _sequence(token, uid):
    if token == "$":
        return Saved()
    return Sequence(sequence_set(token), uid)


def _date(reader):
    token = reader.next("a date")
    text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    match = _DATE.match(text)
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if month is None:
        raise Bad("expected a date like 1-Feb-2024")
    try:
        return msgkeys.day_number(int(match.group(3)), month, int(match.group(1)))
    except ValueError:
        raise Bad("no such date") from None


def _size(reader):
    token = reader.next("a size")
    if not isinstance(token, Atom) or not _NUMBER64.match(token):
        raise Bad("expected a size in octets")
    return int(token)


def _header(reader):
    field = astring(reader.next("a header field name")).lower()
    needle = reader.string()
    if field in _HEADER_COLUMNS:
        return Column(_HEADER_COLUMNS[field], needle.encode())
    if not field or any(c <= " " or c == ":" for c in field):
        raise Bad("invalid header field name")
    return Text(needle, field)


def _keyword(reader, present):
    word = flag(reader.next("a keyword"))
    if word.startswith("\\"):
        raise Bad("expected a keyword, not a system flag")
    return Keyword(word, present)


def _flag_key(name):
    flag_name, present = _FLAGS[name]
    return lambda reader: Flag(BITS[flag_name], present)


def _column_key(code):
    return lambda reader: Column(code, reader.string().encode())


def _dated(sent, relation):
    return lambda reader: Date(sent, relation, _date(reader))


def _not(reader):
    return Not(_nested(reader, lambda: parse_key(reader)))


def _or(reader):
    return _nested(reader, lambda: Or(parse_key(reader), parse_key(reader)))


_KEYS = {
    "ALL": lambda reader: All(),
    **{name: _flag_key(name) for name in _FLAGS},
    **{name: _column_key(code) for name, code in _COLUMNS.items()},
    "KEYWORD": lambda reader: _keyword(reader, True),
    "UNKEYWORD": lambda reader: _keyword(reader, False),
    # RFC 3501 6.4.4: NEW is RECENT UNSEEN, OLD is NOT RECENT.
    "RECENT": lambda reader: Recent(True),
    "OLD": lambda reader: Recent(False),
    "NEW": lambda reader: And((Recent(True), Flag(BITS["\\Seen"], False))),
    "BEFORE": _dated(False, "before"), "ON": _dated(False, "on"),
    "SINCE": _dated(False, "since"), "SENTBEFORE": _dated(True, "before"),
    "SENTON": _dated(True, "on"), "SENTSINCE": _dated(True, "since"),
    "LARGER": lambda reader: Size(True, _size(reader)),
    "SMALLER": lambda reader: Size(False, _size(reader)),
    "BODY": lambda reader: Text(reader.string(), BODY),
    "TEXT": lambda reader: Text(reader.string(), TEXT),
    "HEADER": _header,
    "UID": lambda reader: _sequence(reader.next("a UID set"), uid=True),
    "NOT": _not,
    "OR": _or,
}
KEYS = {}       # extensions: name -> function(Reader) -> key record
