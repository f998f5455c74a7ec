"""mailsuite.imapd.condstore: RFC 7162's modifiers and parameters as the parser
hands them over, the CONDSTORE enabling rule, and VANISHED lines."""

from types import SimpleNamespace

import pytest

from mailsuite.imapd import condstore
from mailsuite.imapd.errors import Bad
from mailsuite.imapd.parser import parse_command


def session(*enabled, selected=None):
    lines = []
    return SimpleNamespace(enabled=set(enabled), selected=selected,
                           untagged=lines.append, lines=lines)


def args(text):
    return parse_command(b"t1 X " + text.encode()).args


def test_select_parameters():
    assert condstore.select_params(session(), []) == (False, None)
    assert condstore.select_params(session(), args("(CONDSTORE)")) == (True, None)
    on, resync = condstore.select_params(
        session("QRESYNC"), args("(QRESYNC (67890007 20050715194045000 41,43:211 "
                                 "(1,3 41,43)))"))
    assert on and resync == condstore.Resync(67890007, 20050715194045000,
                                             [(41, 41), (43, 211)])
    assert condstore.select_params(session("QRESYNC"), args("(QRESYNC (1 2))"))[1] \
        == condstore.Resync(1, 2, None)


@pytest.mark.parametrize("text", [
    "(QRESYNC (1 2))",                      # not enabled
    "()", "(FROB)", "(CONDSTORE CONDSTORE)", "CONDSTORE",
])
def test_bad_select_parameters(text):
    with pytest.raises(Bad):
        condstore.select_params(session(), args(text))


@pytest.mark.parametrize("text", [
    "(QRESYNC (0 2))", "(QRESYNC (1 0))", "(QRESYNC (1))", "(QRESYNC (1 2 3 4 5))",
    "(QRESYNC (1 99999999999999999999))", "(QRESYNC (1 9223372036854775808))",
    "(QRESYNC (1 2 1:5 (1:2)))", "(QRESYNC (1 2 (1 2) 1:5))", "(QRESYNC 1 2)",
])
def test_bad_qresync_parameters(text):
    with pytest.raises(Bad):
        condstore.select_params(session("QRESYNC"), args(text))


def test_fetch_and_store_modifiers():
    uid = SimpleNamespace(uid=True)
    assert condstore.fetch_modifiers(session(), uid, args("(CHANGEDSINCE 12)")[0]) \
        == (12, False)
    assert condstore.fetch_modifiers(session("QRESYNC"), uid,
                                     args("(CHANGEDSINCE 12 VANISHED)")[0]) == (12, True)
    assert condstore.store_modifiers(args("(UNCHANGEDSINCE 0)")[0]) == 0
    for text in ("(CHANGEDSINCE 12 VANISHED)", "(VANISHED)", "(CHANGEDSINCE)", "()",
                 "(CHANGEDSINCE 1 CHANGEDSINCE 2)", "(CHANGEDSINCE -1)"):
        with pytest.raises(Bad):
            condstore.fetch_modifiers(session(), uid, args(text)[0])
    with pytest.raises(Bad):    # VANISHED only in UID FETCH
        condstore.fetch_modifiers(session("QRESYNC"), SimpleNamespace(uid=False),
                                  args("(CHANGEDSINCE 1 VANISHED)")[0])
    for text in ("(UNCHANGEDSINCE)", "(UNCHANGEDSINCE 1 2)", "(CHANGEDSINCE 1)"):
        with pytest.raises(Bad):
            condstore.store_modifiers(args(text)[0])


def test_enabling_with_a_mailbox_selected_tells_highestmodseq_once():
    quiet = session()
    condstore.enable(quiet)
    assert quiet.enabled == {"CONDSTORE"} and quiet.lines == []
    s = session(selected=SimpleNamespace(modseq=42))
    condstore.enable(s)
    condstore.enable(s)
    assert s.lines == ["OK [HIGHESTMODSEQ 42] highest mod-sequence"]


def test_vanished_lines_are_compact_and_bounded():
    s = session()
    condstore.report_vanished(s, [1, 2, 3, 5, 9, 10], earlier=True)
    assert s.lines == ["VANISHED (EARLIER) 1:3,5,9:10"]
    s = session()
    condstore.report_vanished(s, list(range(1, 5000, 2)))
    assert len(s.lines) == 3
    assert all(len(line) < 10000 for line in s.lines)
    condstore.report_vanished(s, [])
    assert len(s.lines) == 3


def test_within_a_uid_set():
    assert condstore.within(5, [(1, 3), (5, None)])
    assert condstore.within(9000, [(5, None)])
    assert not condstore.within(4, [(1, 3), (5, 7)])
    # "*:5" is "5:*", not "0:5".
    assert condstore.within(9000, [(None, 5)])
    assert not condstore.within(4, [(None, 5)])
