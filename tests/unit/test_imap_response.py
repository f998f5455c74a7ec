"""mailsuite.imapd.response: the reply builders never send client bytes raw."""

import re

from hypothesis import given, settings, strategies as st

from mailsuite.imapd.response import MAX_TEXT, MAX_UNTAGGED, status, text, untagged

LITERAL_AT_END = re.compile(rb"\{\d+\+?\}\r\n\Z")
STATUS = re.compile(rb"t1 BAD (\[[A-Z]+\] )?[ -~]+\r\n\Z")


def test_plain_text_is_kept():
    assert status("a1", "OK", "LIST completed") == b"a1 OK LIST completed\r\n"
    assert status("*", "BAD", "too long", "TOOBIG") == b"* BAD [TOOBIG] too long\r\n"
    assert untagged("2 EXISTS") == b"* 2 EXISTS\r\n"


def test_line_ends_controls_and_non_ascii_become_question_marks():
    assert text("a\r\n* BYE\x00é") == "a??* BYE??"


def test_text_is_bounded():
    cut = text("x" * 1000)
    assert len(cut) == MAX_TEXT and cut.endswith("...")
    assert len(untagged("y" * (2 * MAX_UNTAGGED))) == MAX_UNTAGGED + 4


def test_text_never_ends_in_a_literal_announcement():
    assert text("name a&{3}") == "name a&{3}."
    assert text("x" * (MAX_TEXT - 4) + "{3}").endswith("{3}.")
    assert not LITERAL_AT_END.search(status("t", "BAD", "{12+}"))


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=400) | st.binary(max_size=400).map(
    lambda b: b.decode("latin-1")), st.sampled_from([None, "TOOBIG", "SERVERBUG"]))
def test_any_message_makes_one_safe_status_line(message, code):
    line = status("t1", "BAD", message, code)
    assert STATUS.match(line), line
    assert len(line) <= len(b"t1 BAD [SERVERBUG] ") + MAX_TEXT + 2
    assert not LITERAL_AT_END.search(line)
    body = untagged(message)
    assert body.count(b"\r\n") == 1 and body.endswith(b"\r\n")
    assert all(0x20 <= c <= 0x7e for c in body[:-2])
    assert not LITERAL_AT_END.search(body)
