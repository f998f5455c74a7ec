"""Hypothesis strategies for IMAP commands, for the fuzz tests.

`commands()` builds `tag SP name SP arguments` as bytes, mostly plausible and often
hostile: nested and unbalanced lists, numbers with thousands of digits, brackets
holding any byte, wildcards, modified UTF-7, quoted strings and literals. A command
is framed for the wire: no LF outside a literal, every literal non-synchronizing
(LITERAL+), and no line ends in a literal's announcement, so one command is one
command for the server.
"""

import re

from hypothesis import assume, strategies as st

# RFC 9051 9: a tag is ASTRING-CHARs but "+"; atom-specials are ( ) { SP CTL % * " \ ]
TAG_CHARS = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) not in '(){%*"\\+')
ATOM_CHARS = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) not in '(){%*"\\]')
TAG = re.compile(rb"([%s]+) " % re.escape(TAG_CHARS.encode()))
# Commands that wait for more than one line, or end the session or change its
# framing (COMPRESS) or state (UNAUTHENTICATE), or cost a password check: the fuzz
# would test the client's framing, not the server.
EXCLUDED = re.compile(rb"\S+ (LOGIN|AUTHENTICATE|LOGOUT|STARTTLS|IDLE|COMPRESS|"
                      rb"UNAUTHENTICATE)(?![A-Za-z])", re.IGNORECASE)
_ANNOUNCEMENT_AT_END = re.compile(rb"\{\d+\+?\}\r?\Z")
MAX_COMMAND = 60000     # bytes, literals included: every line under imapd's 64 KiB

NAMES = ["CAPABILITY", "NOOP", "SELECT", "EXAMINE", "LIST", "CHECK", "CLOSE",
         "UNSELECT", "EXPUNGE", "FETCH", "STORE", "UID", "Uid", "fetch", "FROB",
         "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LSUB", "STATUS",
         "NAMESPACE", "APPEND", "COPY", "MOVE", "GETQUOTA", "GETQUOTAROOT", "ENABLE",
         "ID"]
WORDS = ["INBOX", "inbox", "Sent", "Archive/2024", "&Jjo-", "&", "&-", "&AGE",
         "*", "%", "1", "1:*", "*:1", "2,1:3", "0", "4294967296", "FLAGS", "+FLAGS",
         "-FLAGS.SILENT", "\\Seen", "\\Deleted", "\\Recent", "$Label", "UID", "FAST",
         "RFC822", "RFC822.SIZE", "RFC822.HEADER", "INTERNALDATE", "ENVELOPE",
         "BODY", "BODY.PEEK", "FETCH", "STORE", "NIL", '""', "COPY", "MOVE",
         "EXPUNGE", '"17-Jul-1996 02:44:25 -0700"', '"31-Feb-2024 00:00:00 +0000"',
         "MODSEQ", "CONDSTORE", "QRESYNC", "CHANGEDSINCE", "UNCHANGEDSINCE",
         "VANISHED", "UTF8=ACCEPT"]
SECTIONS = ["", "HEADER", "TEXT", "MIME", "1", "HEADER.FIELDS (From To)",
            "HEADER.FIELDS.NOT (Subject)", "HEADER.FIELDS ()", "header.fields (\"a b\")"]


def _no_lf(data):
    return data.replace(b"\n", b"")


def _quote(data):
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


digits = st.one_of(st.integers(0, 2 ** 64).map(str),
                   st.integers(11, 6000).map(lambda n: "9" * n))
atoms = st.one_of(st.text(ATOM_CHARS, min_size=1, max_size=12), digits,
                  st.sampled_from(WORDS)).map(str.encode)
wildcards = st.text(ATOM_CHARS + "%*", min_size=1, max_size=20).map(str.encode) | \
    st.integers(1, 2000).map(lambda n: b"*" * n + b"a")
sections = st.sampled_from(SECTIONS).map(str.encode) | \
    st.binary(max_size=20).map(_no_lf)
partials = st.sampled_from([b"", b"<0.10>", b"<5.1>", b"<1>", b"<1.0>"]) | \
    st.tuples(digits, digits).map(lambda p: f"<{p[0]}.{p[1]}>".encode())
bracketed = st.builds(lambda head, inside, tail: head + b"[" + inside + b"]" + tail,
                      st.sampled_from([b"BODY", b"BODY.PEEK", b"body", b"x", b"i"]),
                      sections, partials)
quoted = st.binary(max_size=40).map(_no_lf).map(_quote)
literals = st.binary(max_size=60).map(lambda data: b"{%d+}\r\n" % len(data) + data)
garbage = st.binary(min_size=1, max_size=12).map(_no_lf).filter(bool)
leaves = st.one_of(atoms, atoms, wildcards, bracketed, quoted, literals, garbage)
tokens = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4).map(
        lambda items: b"(" + b" ".join(items) + b")"), max_leaves=8)
deep = st.integers(1, 3000).flatmap(
    lambda n: st.sampled_from([b"(" * n, b"(" * n + b")" * n, b")" * n]))
arguments = st.lists(st.one_of(tokens, tokens, tokens, deep), max_size=5).map(b" ".join)


@st.composite
def commands(draw, tags=st.text(TAG_CHARS, min_size=1, max_size=8)):
    """(tag or None, command bytes without the final CRLF)."""
    if draw(st.integers(0, 9)) == 0:
        line = draw(st.binary(max_size=200).map(_no_lf))
        match = TAG.match(line)
        tag = match.group(1).decode() if match else None
    else:
        tag = draw(tags)
        name = draw(st.sampled_from(NAMES) | st.text(ATOM_CHARS, max_size=8))
        args = draw(arguments)
        line = tag.encode() + b" " + name.encode() + (b" " + args if args else b"")
    assume(len(line) < MAX_COMMAND)
    assume(not _ANNOUNCEMENT_AT_END.search(line) and not EXCLUDED.match(line))
    return tag, line
