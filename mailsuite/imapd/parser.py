"""Reading and parsing IMAP commands (RFC 9051 2.2.1, 4 and 9; RFC 3501 the same).

`read_command` takes one whole command off the stream, literals included, and hands
back its bytes with every line end made CRLF; a `receive` hook may take a literal's
bytes instead, as they arrive (APPEND writes big messages to a file: imapd.append),
and the command's tokens then hold what the hook returned in its place.
`parse_command` turns those bytes into
a tag, a command name and a tree of tokens; the small typed helpers (`astring`,
`sequence_set`, `flags`, ...) check a token against the grammar where a command
needs it. Anything malformed raises `Bad`, which the session answers with a BAD and
survives. Whatever a client sends costs bounded work: lines, literals, the nesting
of lists, mailbox names and the digits of numbers have limits checked before
anything else is done with them. imapd advertises LITERAL+ (RFC 7888 4, decision
0009): a synchronizing literal over a limit is refused before its bytes are sent;
a non-synchronizing one of a logged-in session is refused after them, its bytes
and the rest of its command read and dropped; before login, one over the limit
ends the session, its bytes being already on the wire.
"""

import re

from ..core.stream import LineTooLong
from .errors import Bad, ProtocolError, TooBig

MAX_LINE = 64 * 1024            # one line of a command, literals excluded
MAX_LITERAL = 1024 * 1024       # one literal kept in memory (APPEND's big ones are not)
MAX_PREAUTH_LITERAL = MAX_LINE  # before login nothing needs more (LOGIN, AUTHENTICATE)
MAX_DROPPED = 64 * 1024 * 1024  # bytes of a refused command read and dropped, at most
PIECE = 256 * 1024              # bytes of a literal handed to a hook at a time
# Parenthesized lists inside one another. No command needs more than a few; the
# bound keeps the recursive tokenizer far from Python's recursion limit.
MAX_NESTING = 64
# A mailbox name or LIST pattern as sent. The store's names are at most 255 bytes
# on disk (core.maildir.normalize); in modified UTF-7 that is at most 2.5 times as
# many, so this only spares longer names the decoding and the lookup.
MAX_MAILBOX = 1024

_LITERAL_AT_END = re.compile(rb"\{(\d{1,20})(\+?)\}\r?\n\Z")
_LITERAL = re.compile(rb"\{(\d{1,20})\+?\}\r\n")
_TAG = re.compile(rb"[\x21-\x7e]+")
_SECTION_TEXT = re.compile(rb"[\x20-\x7e]*")
# The FETCH items that take a section (RFC 9051 9: fetch-att; RFC 3516 4.2).
_SECTION_ITEM = re.compile(rb"(?i)BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE")
# RFC 9051 9: atom-specials are ( ) { SP CTL % * " \ ]; a tag is ASTRING-CHARs but +.
_ATOM_SPECIALS = set(b'(){ %*"\\]')
_TAG_CHARS = bytes(c for c in range(0x21, 0x7f) if c not in set(b'(){%*"\\+'))
_SYSTEM_FLAGS = {f.lower(): f for f in
                 ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}


class Atom(str):
    """An atom, as sent (case kept); compare with .upper() where case is free."""


class String(bytes):
    """A quoted string or a literal."""


class Literal(String):
    """A literal (RFC 9051 4.3), where the grammar wants one and not a quoted
    string (an APPEND's message)."""


class Received(bytes):
    """A command's bytes; `streamed` maps the offset where a literal's bytes
    would be to what read_command's `receive` hook took them into instead."""

    def __new__(cls, data, streamed=None):
        received = super().__new__(cls, data)
        received.streamed = streamed or {}
        return received


class SavedSet(str):
    """`$` resolved to the ranges of the saved search result (RFC 5182 2.1)."""

    def __new__(cls, ranges):
        token = super().__new__(cls, "$")
        token.ranges = ranges
        return token


class Command:
    def __init__(self, tag, name, args):
        self.tag = tag
        self.name = name
        self.args = args
        self.uid = False      # set for UID FETCH, UID STORE (RFC 9051 6.4.9)

    def __repr__(self):
        return f"Command({self.tag!r}, {self.name!r}, {self.args!r})"


# reading


async def read_command(stream, continuation, max_literal=MAX_LITERAL, receive=None):
    """The next command's bytes (Received), without its final line end. A
    synchronizing literal {n} is first acknowledged by awaiting `continuation()`
    (RFC 9051 7.6); a non-synchronizing one {n+} is read at once (RFC 7888).

    `receive(head, size)`, if given, is awaited for each literal before it is
    acknowledged or read, with the command so far (Received): it may refuse the
    command (raise a ProtocolError: the client then never sends a synchronizing
    literal; a non-synchronizing one is read and dropped), or return a sink
    (async write(piece), close(), discard()) to take the bytes in pieces instead
    of memory, or None. On any failure the sinks are discarded."""
    parts, held, streamed = [], 0, {}
    try:
        while True:
            line = await stream.readline(MAX_LINE)
            held += len(line)
            match = _LITERAL_AT_END.search(line)
            if not match:
                parts.append(line.rstrip(b"\r\n"))
                return Received(b"".join(parts), streamed)
            size, nonsync = int(match.group(1)), bool(match.group(2))
            parts.append(line[:match.end(2) + 1] + b"\r\n")
            tag = tag_of(parts[0])
            sink = None
            if receive is not None:
                head = Received(b"".join(parts), streamed)
                sink = await _hook(receive, head, size, tag, stream if nonsync else None)
            if sink is None:
                held += size
                if size > max_literal or held > max_literal + 16 * MAX_LINE:
                    if nonsync and receive is not None:
                        # RFC 7888 4 (LITERAL+): its bytes are on the wire; a
                        # logged-in client's are read and dropped, and the
                        # command alone is refused.
                        await _drop_command(stream, size, tag)
                        raise TooBig("literal too large", tag)
                    # The client waits for "+" and so never sends a synchronizing
                    # literal; before login, a non-synchronizing one that big
                    # ends the session rather than being read.
                    raise TooBig("literal too large", tag, fatal=nonsync)
            else:
                streamed[sum(map(len, parts))] = sink
            if not nonsync:
                await continuation()
            if sink is None:
                parts.append(await stream.readexactly(size))
            else:
                await _fill(stream, sink, size, tag)
    except BaseException:
        for sink in streamed.values():
            await sink.discard()
        raise


async def _hook(receive, head, size, tag, stream=None):
    """The hook's sink for a literal; a refusal of a non-synchronizing one
    (`stream` given: its bytes come anyway) reads and drops the command first."""
    try:
        return await receive(head, size)
    except ProtocolError as exc:
        exc.tag = exc.tag or tag
        if stream is not None:
            await _drop_command(stream, size, tag)
        raise


async def _fill(stream, sink, size, tag):
    """Hand a literal to `sink` in pieces. If the sink fails (a full disk), the
    rest of the literal and of its command is read and dropped, and the failure
    answers the command."""
    left, failed = size, None
    while left:
        piece = await stream.readexactly(min(PIECE, left))
        left -= len(piece)
        if failed is None:
            try:
                await sink.write(piece)
            except ProtocolError as exc:
                failed = exc
    if failed is None:
        try:
            await sink.close()
            return
        except ProtocolError as exc:
            failed = exc
    await _drop_command(stream, 0, tag)
    failed.tag = failed.tag or tag
    raise failed


async def _drop_command(stream, size, tag):
    """Read and drop a refused literal and the rest of its command, up to
    MAX_DROPPED bytes: past that, or past a line that cannot be read, the session
    cannot find the next command and ends (TooBig, fatal). A synchronizing
    literal further on stops it: the client waits for a "+" that never comes."""
    dropped = 0
    while True:
        dropped += size
        if dropped > MAX_DROPPED:
            raise TooBig("literal too large", tag, fatal=True)
        while size:
            size -= len(await stream.readexactly(min(PIECE, size)))
        try:
            line = await stream.readline(MAX_LINE)
        except LineTooLong:
            raise TooBig("command too long", tag, fatal=True) from None
        dropped += len(line)
        match = _LITERAL_AT_END.search(line)
        if not match or not match.group(2):
            return
        size = int(match.group(1))


def tag_of(data):
    """The tag at the start of a command's bytes, or None if it has none."""
    match = _TAG.match(data)
    tag = match.group(0) if match else b""
    return tag.decode("ascii") if tag and _is_tag(tag) else None


def _is_tag(tag):
    return all(c in _TAG_CHARS for c in tag)


# parsing


def parse_command(data):
    """`tag SP name [SP args]` -> Command; raises Bad (with .tag when known)."""
    tag = tag_of(data)
    if tag is None or data[len(tag):len(tag) + 1] != b" ":
        raise Bad("missing or invalid tag")
    rest = data[len(tag) + 1:]
    match = re.match(rb"[A-Za-z]+", rest)
    if not match:
        raise Bad("missing command name", tag=tag)
    name = match.group(0).decode("ascii").upper()
    rest = rest[match.end():]
    if rest and not rest.startswith(b" "):
        raise Bad("invalid command name", tag=tag)
    at = len(data) - len(rest) + 1          # where the arguments start
    streamed = {offset - at: sink
                for offset, sink in getattr(data, "streamed", {}).items()}
    try:
        args = tokenize(rest[1:], streamed) if rest else []
    except Bad as exc:
        exc.tag = tag
        raise
    return Command(tag, name, args)


def tokenize(data, streamed=None):
    """Space-separated tokens; a parenthesized list becomes a Python list.

    An atom-like token may carry a bracketed part with spaces in it, as in
    BODY[HEADER.FIELDS (From)]<0.100>, so that FETCH can take it apart. A literal
    whose bytes went to a sink (read_command) is that sink: `streamed` maps the
    offset where its bytes would be to it.
    """
    tokens, _ = _Tokenizer(data, streamed).list_items(0)
    return tokens


class _Tokenizer:
    def __init__(self, data, streamed=None):
        self.data = bytes(data)
        self.streamed = streamed or {}

    def list_items(self, pos, depth=0):
        top = depth == 0
        if depth > MAX_NESTING:
            raise Bad("parentheses nested too deeply")
        items = []
        data = self.data
        while True:
            if pos >= len(data):
                if top:
                    return items, pos
                raise Bad("unbalanced parenthesis")
            if data[pos:pos + 1] == b")":
                if top:
                    raise Bad("unbalanced parenthesis")
                return items, pos + 1
            if items:
                if data[pos:pos + 1] != b" ":
                    raise Bad("expected a space between arguments")
                pos += 1
            token, pos = self.token(pos, depth)
            items.append(token)

    def token(self, pos, depth):
        first = self.data[pos:pos + 1]
        if first == b"(":
            return self.list_items(pos + 1, depth + 1)
        if first == b'"':
            return self.quoted(pos + 1)
        if first == b"{":
            return self.literal(pos)
        if first == b"~" and self.data[pos + 1:pos + 2] == b"{":
            # RFC 3516 4.2: literal8, "~{n}", may hold any octet but NUL-free
            # text is not required: read as any literal.
            return self.literal(pos + 1)
        return self.atom(pos)

    def quoted(self, pos):
        # RFC 9051 4.3: no CR or LF; only \" and \\ are escapes.
        out = bytearray()
        data = self.data
        while pos < len(data):
            c = data[pos]
            if c == 0x22:
                return String(out), pos + 1
            if c == 0x5c:
                pos += 1
                if data[pos:pos + 1] not in (b'"', b"\\"):
                    raise Bad("invalid escape in quoted string")
                c = data[pos]
            elif c in (0x0d, 0x0a, 0x00):
                raise Bad("invalid character in quoted string")
            out.append(c)
            pos += 1
        raise Bad("unterminated quoted string")

    def literal(self, pos):
        match = _LITERAL.match(self.data, pos)
        if not match:
            raise Bad("invalid literal")
        start = match.end()
        if start in self.streamed:
            return self.streamed[start], start
        end = start + int(match.group(1))
        if end > len(self.data):
            raise Bad("truncated literal")
        return Literal(self.data[start:end]), end

    def atom(self, pos):
        data = self.data
        start = pos
        while pos < len(data) and data[pos] not in b" ()":
            c = data[pos]
            # After a FETCH item a "[" opens a section, which runs to the next "]";
            # anywhere else it is an ATOM-CHAR (RFC 9051 9), as in a mailbox name.
            if c == 0x5b and _SECTION_ITEM.fullmatch(data, start, pos):
                pos = self.section_end(pos)
            elif c < 0x21 or c > 0x7e or c in b'{"':
                raise Bad("invalid character in atom")
            pos += 1
        if pos == start:
            raise Bad("empty argument")
        return Atom(data[start:pos].decode("ascii")), pos

    def section_end(self, pos):
        """Where the "]" closing the "[" at `pos` is. A section (RFC 9051 9:
        section-spec) is printable ASCII and spaces: anything else is refused, and
        so the scan cannot run over a literal's CRLF into the literal's bytes."""
        close = self.data.find(b"]", pos)
        if close < 0:
            raise Bad("unterminated [")
        if not _SECTION_TEXT.fullmatch(self.data, pos + 1, close):
            raise Bad("invalid character inside [...]")
        return close


# typed arguments


def expect(args, count, usage):
    """Check the number of arguments; `usage` names them for the BAD text."""
    if len(args) != count:
        raise Bad(f"expected {usage}")
    return args


def astring(token):
    """RFC 9051 9 astring: an atom of ASTRING-CHARs, or a string; as str."""
    if isinstance(token, String):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            raise Bad("string is not UTF-8") from None
    if isinstance(token, Atom) and not any(
            c in _ATOM_SPECIALS and c != 0x5d for c in token.encode("ascii")):
        return str(token)
    raise Bad("expected an atom or a string")


def mailbox(token):
    """A mailbox name; INBOX in any case is INBOX (RFC 9051 5.1)."""
    _check_mailbox_size(token)
    name = astring(token)
    return "INBOX" if name.upper() == "INBOX" else name


def list_mailbox(token):
    """A LIST pattern: like astring, but % and * are allowed (RFC 9051 9)."""
    _check_mailbox_size(token)
    if isinstance(token, Atom) and not any(
            c in b'(){ "\\' for c in token.encode("ascii")):
        return str(token)
    return astring(token)


def _check_mailbox_size(token):
    if isinstance(token, (str, bytes)) and len(token) > MAX_MAILBOX:
        raise Bad("mailbox name too long", "TOOBIG")


def atom(token, what="an atom"):
    if not isinstance(token, Atom):
        raise Bad(f"expected {what}")
    return token.upper()


def number(token):
    if not isinstance(token, Atom) or not token.isdigit() or len(token) > 10:
        raise Bad("expected a number")
    return int(token)


def flag(token):
    """A flag: a system flag (case-folded to its standard spelling) or a keyword.
    \\Recent cannot be set (RFC 9051 2.3.2); other \\Names are not ours."""
    if not isinstance(token, Atom):
        raise Bad("expected a flag")
    if token.startswith("\\"):
        standard = _SYSTEM_FLAGS.get(token.lower())
        if standard is None:
            raise Bad(f"invalid flag {token}")
        return standard
    if any(c in _ATOM_SPECIALS for c in token.encode("ascii")) or "[" in token:
        raise Bad(f"invalid keyword {token}")
    return str(token)


def flag_list(tokens):
    """`(f1 f2)` or bare `f1 f2` (RFC 9051 6.4.6) -> list of flags."""
    if len(tokens) == 1 and isinstance(tokens[0], list):
        tokens = tokens[0]
    return [flag(t) for t in tokens]


# sequence sets (RFC 9051 9: sequence-set; "*" is the largest number in use)

# Digits are bounded before int() sees them: Python refuses to convert more than
# 4,300 (CVE-2020-10735), and no nz-number has more than 10.
_SEQ_RANGE = re.compile(r"(\d{1,10}|\*)(?::(\d{1,10}|\*))?\Z")


def sequence_set(token):
    """`1:*,3` -> [(1, None), (3, 3)]; None stands for `*`."""
    if isinstance(token, SavedSet):
        return list(token.ranges)
    if not isinstance(token, Atom) or not token:
        raise Bad("expected a sequence set")
    ranges = []
    for item in token.split(","):
        match = _SEQ_RANGE.match(item)
        if not match:
            raise Bad(f"invalid sequence set {token}")
        low = _seq_number(match.group(1))
        high = _seq_number(match.group(2)) if match.group(2) else low
        ranges.append((low, high))
    return ranges


def _seq_number(text):
    if text == "*":
        return None
    value = int(text)
    if not 0 < value < 2 ** 32:
        raise Bad("sequence number out of range")
    return value


def resolve_range(low, high, largest):
    """The inclusive bounds of one range, `*` being `largest`; the order of the
    two ends does not matter (RFC 9051 9: 4:2 is 2:4)."""
    low = largest if low is None else low
    high = largest if high is None else high
    return (low, high) if low <= high else (high, low)
