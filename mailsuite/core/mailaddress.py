"""Address lists (RFC 5322 3.4) in the shape of IMAP's ENVELOPE (RFC 9051 7.5.2).

    parse(text) -> [[name, adl, mailbox, host], ...]

`text` is an unfolded field value (From, To, Cc, ...), header bytes decoded as
Latin-1 so that every byte comes back. A mailbox is [display name, source route,
local part, domain]; a group is [None, None, group name, None], its members, then
[None, None, None, None]. Display names keep RFC 2047 encoded words as they are:
decoding is the client's work. With no display name, the last comment stands in
for it ("user@host (Real Name)"), as other servers do.

Failure policy: nothing raises. What is missing is named, never left NIL, since a
NIL host means a group (RFC 9051 7.5.2): a mailbox without a domain has the host
MISSING_DOMAIN, one without a local part the mailbox MISSING_MAILBOX (Dovecot's
names). Stray characters are skipped; an unclosed quote, comment or group ends at
the end of the field. The work is linear in the length of the field.
"""

import re

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"
_SPECIALS = '()<>[]:;@\\,."'
_ATOM = re.compile(r'[^\s()<>\[\]:;@\\,."]+')
_SPACE = re.compile(r"\s+")
# Tokens: ("atom" | "quoted" | "literal" | "comment" | a special character, text,
# whether white space came before it).


def _tokens(text):
    found, pos, spaced = [], 0, False
    while pos < len(text):
        space = _SPACE.match(text, pos)
        if space:
            pos, spaced = space.end(), True
            continue
        c = text[pos]
        if c == "(":
            kind, value, pos = "comment", *_comment(text, pos + 1)
        elif c == '"':
            kind, value, pos = "quoted", *_quoted(text, pos + 1, '"')
        elif c == "[":
            value, pos = _quoted(text, pos + 1, "]")
            kind, value = "literal", "[" + value + "]"
        elif c in _SPECIALS:
            kind, value, pos = c, c, pos + 1
        else:
            atom = _ATOM.match(text, pos)
            kind, value, pos = "atom", atom.group(0), atom.end()
        found.append((kind, value, spaced))
        spaced = False
    return found


def _quoted(text, pos, close):
    """The text up to `close` with quoted pairs undone, and where it ends."""
    out = []
    while pos < len(text) and text[pos] != close:
        if text[pos] == "\\" and pos + 1 < len(text):
            pos += 1
        out.append(text[pos])
        pos += 1
    return "".join(out), pos + 1


def _comment(text, pos):
    """A comment's text (RFC 5322 3.2.2: comments nest), and where it ends."""
    out, depth = [], 1
    while pos < len(text):
        c = text[pos]
        if c == "\\" and pos + 1 < len(text):
            pos += 1
            c = text[pos]
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return "".join(out), pos + 1
        out.append(c)
        pos += 1
    return "".join(out), pos


def parse(text):
    """The addresses of a field value, groups flattened as IMAP sends them."""
    return _Parser(_tokens(text)).address_list()


class _Parser:
    def __init__(self, tokens):
        # Comments are kept aside, each under the index of the token after it,
        # so that a mailbox can find the comments within its span.
        self.tokens, self.comments = [], {}
        for token in tokens:
            if token[0] == "comment":
                self.comments[len(self.tokens)] = token[1]
            else:
                self.tokens.append(token)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def address_list(self, in_group=False):
        out = []
        while self.peek() is not None:
            kind = self.peek()
            if kind == ";" and in_group:
                break
            if kind in (",", ";", ">", ":"):
                self.pos += 1
                continue
            out.extend(self.address(in_group))
        return out

    def address(self, in_group):
        """One mailbox, or a group with its members (a group in a group is read
        as a mailbox list, RFC 5322 3.4 allowing none)."""
        start = self.pos
        words = self.phrase()
        kind = self.peek()
        if kind == ":" and not in_group:
            self.pos += 1
            members = self.address_list(in_group=True)
            if self.peek() == ";":
                self.pos += 1
            return [[None, None, _words(words) or "", None], *members,
                    [None, None, None, None]]
        if kind == "<":
            self.pos += 1
            adl, mailbox, host = self.angle_addr()
            found = [_words(words) or self.comment(start), adl, mailbox, host]
        else:
            mailbox, host = _joined(words), None
            if kind == "@":
                self.pos += 1
                host = _joined(self.domain())
            if not words and host is None:
                self.pos += 1           # a stray token: skip it
                return []
            found = [self.comment(start), None, mailbox or MISSING_MAILBOX,
                     host or MISSING_DOMAIN]
        self.skip_rest(in_group)
        return [found]

    def skip_rest(self, in_group):
        """What follows a mailbox up to the next one is not part of it."""
        while self.peek() not in (",", None) and not (in_group and self.peek() == ";"):
            self.pos += 1

    def phrase(self):
        words = []
        while self.peek() in ("atom", "quoted", "."):
            words.append(self.tokens[self.pos])
            self.pos += 1
        return words

    def domain(self):
        words = []
        while self.peek() in ("atom", "literal", "."):
            words.append(self.tokens[self.pos])
            self.pos += 1
        return words

    def angle_addr(self):
        """After "<": [route ":"] local "@" domain ">" (RFC 5322 4.4 obs-route)."""
        route = []
        while self.peek() in ("@", ","):
            if self.peek() == "@":
                self.pos += 1
                route.append("@" + _joined(self.domain()))
            else:
                self.pos += 1
        if route and self.peek() == ":":
            self.pos += 1
        mailbox, host = _joined(self.phrase()), None
        if self.peek() == "@":
            self.pos += 1
            host = _joined(self.domain())
        while self.peek() not in (">", None):
            self.pos += 1
        self.pos += self.peek() == ">"
        return (",".join(route) or None, mailbox or MISSING_MAILBOX,
                host or MISSING_DOMAIN)

    def comment(self, start):
        """The last comment between `start` and here, or None."""
        found = [self.comments[i] for i in range(start, self.pos + 1)
                 if i in self.comments]
        return found[-1].strip() or None if found else None


def _words(tokens):
    """A display name: its words with single spaces where the field had space."""
    text = ""
    for kind, value, spaced in tokens:
        text += (" " if spaced and text else "") + value
    return text or None


def _joined(tokens):
    """A local part or domain: its pieces without the space around them."""
    return "".join(value for _, value, _ in tokens)
