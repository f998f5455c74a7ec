"""The ESEARCH ADDTO and REMOVEFROM updates of CONTEXT=SEARCH and CONTEXT=SORT
(imapd.context, RFC 5267 4.3), computed from a context's old and new result."""

import array
import asyncio
from types import SimpleNamespace

import pytest

from mailsuite.imapd import context
from mailsuite.imapd.errors import Bad
from mailsuite.imapd.parser import parse_command


def a_context(uid=False, sort=False, uids=()):
    ranker = (lambda run, found: found) if sort else None
    return context.Context("s1", uid, None, ranker, list(uids))


class View:
    def __init__(self, uids):
        self.uids = array.array("I", uids)

    def seq(self, uid):
        return list(self.uids).index(uid) + 1


def test_search_updates_are_one_set_each():
    c = a_context(uids=[10, 12, 15])
    before = array.array("I", [10, 11, 12, 13, 15])
    # Numbered as the client knew the messages: 10 and 15 were 1 and 5.
    assert context._removals(c, [10, 12, 15], [12], before) == \
        b'* ESEARCH (TAG "s1") REMOVEFROM (1 1,5)\r\n'
    view = View([11, 12, 13, 16, 17])
    assert context._additions(c, [12], [12, 13, 16, 17], view) == \
        b'* ESEARCH (TAG "s1") ADDTO (2 3:5)\r\n'
    assert context._additions(c, [12], [12], view) == b""
    assert context._removals(c, [12], [12], before) == b""


def test_uid_updates_carry_uids():
    c = a_context(uid=True)
    assert context._removals(c, [3, 7, 9], [7], array.array("I", [3, 7, 9])) == \
        b'* ESEARCH (TAG "s1") UID REMOVEFROM (1 3,9)\r\n'


def test_sort_updates_are_in_order_of_position():
    c = a_context(uid=True, sort=True)
    # RFC 5267 4.3: additions by ascending position, each where it lands.
    assert context._additions(c, [9, 4], [12, 9, 11, 4], None) == \
        b'* ESEARCH (TAG "s1") UID ADDTO (1 12 3 11)\r\n'
    # Removals from the end, so that each position holds when it is applied.
    assert context._removals(c, [12, 9, 11, 4], [9], None) == \
        b'* ESEARCH (TAG "s1") UID REMOVEFROM (4 4 3 11 1 12)\r\n'


def test_cancelupdate_ends_only_known_contexts():
    s = SimpleNamespace(contexts={"a": a_context(), "b": a_context()})
    asyncio.run(context.cancelupdate(s, parse_command(b't CANCELUPDATE "a"')))
    assert list(s.contexts) == ["b"]
    for bad in (b't CANCELUPDATE "a"', b"t CANCELUPDATE", b"t CANCELUPDATE (b)"):
        with pytest.raises(Bad):
            asyncio.run(context.cancelupdate(s, parse_command(bad)))
    assert list(s.contexts) == ["b"]
