"""mailsuite.imapd.thread and sort: the threading algorithms (RFC 5256 4) and the
order of sort criteria, without a server."""

import pytest

from mailsuite.core.msgkeys import base_subject
from mailsuite.imapd import sort, thread
from mailsuite.imapd.errors import Bad
from mailsuite.imapd.parser import tokenize
from mailsuite.imapd.thread import Message, ordered_subject, references, render


def message(number, mid="", refs=(), subject="", date=0):
    base, reply = base_subject(subject)
    return Message(number, number, date, mid.encode(), [r.encode() for r in refs],
                   base.upper().encode(), reply)


def threaded(*messages):
    return render(references(list(messages)))


def test_replies_hang_under_what_they_answer_by_date():
    assert threaded(message(1, "<r@x>", date=10),
                    message(2, "<c1@x>", ["<r@x>"], date=30),
                    message(3, "<c2@x>", ["<r@x>"], date=20),
                    message(4, "<g@x>", ["<r@x>", "<c1@x>"], date=40)) == \
        "(1 (3)(2 4))"


def test_a_chain_of_single_replies_is_written_inline():
    assert threaded(message(1, "<a@x>"), message(2, "<b@x>", ["<a@x>"]),
                    message(3, "<c@x>", ["<a@x>", "<b@x>"])) == "(1 2 3)"


def test_references_that_would_make_a_loop_are_not_followed():
    # 2 says a > c > 2; 3 (c) then says its parent is 2: a loop, so c stands
    # alone, 2 below it; the presumed link a > c goes too.
    assert threaded(message(1, "<a@x>", date=3),
                    message(2, "<b@x>", ["<a@x>", "<c@x>"], date=1),
                    message(3, "<c@x>", ["<b@x>"], date=2)) == "(3 2)(1)"


def test_a_message_referring_to_itself_is_a_thread_of_its_own():
    assert threaded(message(1, "<a@x>", ["<a@x>"])) == "(1)"


def test_duplicate_or_missing_message_ids_are_told_apart():
    assert threaded(message(1, "<a@x>"), message(2, "<a@x>")) == "(1)(2)"
    assert threaded(message(1), message(2)) == "(1)(2)"


def test_dummies_are_pruned_and_kept_only_to_join_siblings_at_the_top():
    # A missing parent with one child: the child takes its place.
    assert threaded(message(1, "<b@x>", ["<gone@x>"])) == "(1)"
    # With two children at the top, the dummy stays to hold them.
    assert threaded(message(1, "<b@x>", ["<gone@x>"]),
                    message(2, "<c@x>", ["<gone@x>"], date=1)) == "((1)(2))"
    # Below the top, a dummy's children move up to its parent.
    assert threaded(message(1, "<a@x>"), message(2, "<c@x>", ["<a@x>", "<gone@x>"]),
                    message(3, "<d@x>", ["<a@x>", "<gone@x>"], date=1)) == \
        "(1 (2)(3))"


def test_threads_with_the_same_subject_are_gathered():
    # A reply without references goes under the original.
    assert threaded(message(1, "<a@x>", subject="plans"),
                    message(2, "<b@x>", subject="Re: plans", date=1)) == "(1 2)"
    # Two originals (or two replies) become siblings under a dummy.
    assert threaded(message(1, "<a@x>", subject="plans"),
                    message(2, "<b@x>", subject="plans", date=1),
                    message(3, "<c@x>", subject="Re: plans", date=2)) == \
        "((1)(2)(3))"
    # Empty subjects are never gathered.
    assert threaded(message(1, "<a@x>"), message(2, "<b@x>")) == "(1)(2)"


def test_threads_go_by_the_date_of_their_first_message():
    assert threaded(message(1, "<a@x>", date=50), message(2, "<b@x>", date=10),
                    message(3, "<c@x>", date=10)) == "(2)(3)(1)"


def test_ordered_subject():
    messages = [message(1, subject="b", date=5), message(2, subject="Re: a", date=3),
                message(3, subject="a", date=4), message(4, subject="B", date=1),
                message(5, subject="a", date=9), message(6, subject="c", date=2)]
    assert render(ordered_subject(messages)) == "(4 1)(6)(2 (3)(5))"


def test_deep_threads_need_no_recursion():
    depth = 20_000
    chain = [message(1, "<m1@x>")] + [
        message(n, f"<m{n}@x>", [f"<m{n - 1}@x>"], date=n) for n in range(2, depth + 1)]
    text = threaded(*chain)
    assert text == "(" + " ".join(str(n) for n in range(1, depth + 1)) + ")"


def test_answers_are_kept_with_places_for_any_numbering():
    answer = thread.Answer.of("(0 (2)(1))(3)")
    assert answer.text([5, 7, 9, 11]) == "(6 (10)(8))(12)"     # view indexes
    uids = b"".join(n.to_bytes(4, "little") for n in (10, 20, 30, 40))
    assert answer.text(uids) == "(10 (30)(20))(40)"


# SORT


def test_sort_criteria():
    assert sort.parse_criteria(tokenize(b"(REVERSE DATE subject DISPLAYFROM)")[0]) == \
        [("DATE", True), ("SUBJECT", False), ("DISPLAYFROM", False)]
    for bad in (b"()", b"(REVERSE)", b"(REVERSE REVERSE DATE)", b"(FOO)", b"DATE"):
        with pytest.raises(Bad):
            sort.parse_criteria(tokenize(bad)[0])


def test_sorting_keeps_mailbox_order_for_ties_reverse_included():
    subjects = [b"B", b"A", b"B", b"A"]
    sizes = [10, 20, 10, 5]
    assert sort.ordered(range(4), [(subjects, False)]) == [1, 3, 0, 2]
    assert sort.ordered(range(4), [(subjects, True)]) == [0, 2, 1, 3]
    assert sort.ordered(range(4), [(subjects, False), (sizes, True)]) == [1, 3, 0, 2]
    assert sort.ordered([3, 0, 2], [(sizes, False)]) == [3, 0, 2]
