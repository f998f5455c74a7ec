"""mailsuite.imapd.pattern: LIST wildcards (RFC 9051 6.3.9), INBOX in any case."""

import itertools
import re

import pytest
from hypothesis import given, settings, strategies as st

from mailsuite.imapd.errors import Bad
from mailsuite.imapd.pattern import MAX_PATTERN, compile_pattern


def matches(pattern, name):
    return compile_pattern(pattern).matches(name)


@pytest.mark.parametrize("pattern,name,expected", [
    ("*", "Archive/2024", True),
    ("%", "Archive/2024", False),
    ("%", "Archive", True),
    ("Archive/%", "Archive/2024", True),
    ("Archive/%", "Archive/2024/May", False),
    ("Archive/*", "Archive/2024/May", True),
    ("A*e", "Archive", True),
    ("A*e", "Archive/Sale", True),
    ("A%e", "Archive/Sale", False),
    ("", "", True),
    ("", "a", False),
    ("Sent", "sent", False),           # names other than INBOX keep their case
    ("inbox", "INBOX", True),          # RFC 9051 5.1
    ("inB%", "INBOX", True),
    ("inbox/Sub", "INBOX/Sub", True),
    ("inbox/sub", "INBOX/Sub", False),
    ("inbox", "INBOXES", False),
    ("inboxes", "INBOXES", False),     # INBOXES is not INBOX: its case counts
    ("%*%*%", "a/b", True),
    ("%%%%", "a/b", False),
    ("a.b", "aXb", False),             # no regex inside
])
def test_matches(pattern, name, expected):
    assert matches(pattern, name) is expected


def test_many_wildcards_against_a_long_name():
    # Exponential for a backtracking matcher; here a few thousand integer steps.
    assert not matches("*a" * 300 + "*b", "a" * 254)
    assert matches("%a" * 254 + "%", "a" * 254)
    assert matches("*" * 1000 + "a", "x/" * 100 + "a")


def test_the_pattern_length_is_bounded():
    compile_pattern("*" * MAX_PATTERN)
    with pytest.raises(Bad) as info:
        compile_pattern("*" * (MAX_PATTERN + 1))
    assert info.value.code == "TOOBIG"


def reference(pattern, name):
    """The definition, by regex, on inputs small enough for it: INBOX's case is
    free, so every spelling of a leading INBOX level is tried."""
    regex = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c)
                    for c in pattern)
    spellings = [name]
    if re.match(r"INBOX(/|\Z)", name):
        spellings = ["".join(p) + name[5:] for p in
                     itertools.product(*[(c, c.lower()) for c in "INBOX"])]
    return any(re.fullmatch(regex, s, re.DOTALL) for s in spellings)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from(["", "INBOX", "inbox", "InBo", "INBOX/"]),
       st.text(alphabet="ab/*%X", max_size=8),
       st.sampled_from(["", "INBOX", "INBOX/"]),
       st.text(alphabet="ab/X", max_size=8))
def test_agrees_with_the_regex_definition(head, tail, name_head, name_tail):
    pattern, name = head + tail, name_head + name_tail
    assert matches(pattern, name) == reference(pattern, name)
