"""Matching mailbox names against a LIST pattern (RFC 9051 6.3.9).

"*" matches any run of characters, "%" any run without the hierarchy delimiter;
INBOX matches in any case (RFC 9051 5.1), as the first level of a name too.

A backtracking matcher (a regex of ".*" and "[^/]*") takes time exponential in the
number of wildcards: `LIST "" "***...a"` held the event loop for minutes. Here the
pattern is a nondeterministic automaton whose states are the pattern's positions,
all of them simulated at once as the bits of one integer ("shift-and"): each
character of a name costs a few integer operations, so matching takes time linear
in the name's length for a given pattern, and the pattern's length is bounded.
"""

from typing import NamedTuple

from .errors import Bad

MAX_PATTERN = 1024      # characters, reference included
_WILDCARDS = "*%"


class Pattern(NamedTuple):
    literals: dict      # character -> bits of the positions that hold it
    star: int           # bits of the positions that hold "*"
    percent: int        # bits of the positions that hold "%"
    final: int          # the bit of the position past the end: a match
    delimiter: str

    def matches(self, name):
        # INBOX is the one name whose case is free (RFC 9051 5.1).
        free = 5 if name[:5] == "INBOX" and name[5:6] in ("", self.delimiter) else 0
        states = self._skip_wildcards(1)
        for index, char in enumerate(name):
            if index < free:
                step = self.literals.get(char.upper(), 0) | self.literals.get(
                    char.lower(), 0)
            else:
                step = self.literals.get(char, 0)
            stay = self.star | (self.percent if char != self.delimiter else 0)
            states = self._skip_wildcards(((states & step) << 1) | (states & stay))
            if not states:
                return False
        return bool(states & self.final)

    def _skip_wildcards(self, states):
        # A wildcard also matches nothing; compile_pattern() leaves no two wildcards in a
        # row, so one step reaches every state that matching nothing can reach.
        return states | ((states & (self.star | self.percent)) << 1)


def compile_pattern(pattern, delimiter="/"):
    """The Pattern for a LIST pattern, reference already prefixed; Bad if too long."""
    if len(pattern) > MAX_PATTERN:
        raise Bad("mailbox pattern too long", "TOOBIG")
    literals, star, percent = {}, 0, 0
    positions = _collapse(pattern)
    for index, char in enumerate(positions):
        bit = 1 << index
        if char == "*":
            star |= bit
        elif char == "%":
            percent |= bit
        else:
            literals[char] = literals.get(char, 0) | bit
    return Pattern(literals, star, percent, 1 << len(positions), delimiter)


def _collapse(pattern):
    """The pattern with each run of wildcards made one: "**" and "%*" match what
    "*" matches, "%%" what "%" matches."""
    out = []
    for char in pattern:
        if char in _WILDCARDS and out and out[-1] in _WILDCARDS:
            out[-1] = "*" if "*" in (char, out[-1]) else "%"
        else:
            out.append(char)
    return out
