"""imapd's ESORT and CONTEXT=SEARCH/SORT (RFC 5267) on real sockets, with raw
dialogs (imaplib cannot read ESEARCH updates): one server for the module, each test
in a mailbox of its own, a second session making the changes the first hears of."""

import pytest

import rawsession
from rawsession import Raw

USER = "context@example.test"
PASSWORD = "secret-password"


def message(n):
    return (f"From: sender{n}@example.org\r\nSubject: message {n}\r\n\r\n"
            f"Body {n}.\r\n").encode()


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    yield from rawsession.serve_imapd(tmp_path_factory.mktemp("context") / "inst",
                                      USER, PASSWORD)


def session(inst):
    return Raw(inst, USER, PASSWORD)


def mailbox(inst, name, count, seen=()):
    """A new mailbox of `count` messages (those numbered in `seen` \\Seen), selected
    in a first session; a second session has it selected too."""
    first, second = session(inst), session(inst)
    first.ok(f"CREATE {name}")
    for n in range(1, count + 1):
        flags = "(\\Seen) " if n in seen else ""
        data = message(n)
        first.ok(f"APPEND {name} {flags}{{{len(data)}+}}\r\n{data.decode()}")
    first.ok(f"SELECT {name}")
    second.ok(f"SELECT {name}")
    return first, second


# ESORT


def test_sort_return_options_answer_in_sort_order(inst):
    raw, other = mailbox(inst, "esort", 5)
    # RFC 5267 3.1: MIN and MAX are the first and the last in sort order, and
    # ALL lists the result in that order.
    assert raw.ok("SORT RETURN (MIN MAX ALL COUNT) (REVERSE ARRIVAL) US-ASCII ALL") == \
        [b'* ESEARCH (TAG "t9") MIN 5 MAX 1 ALL 5,4,3,2,1 COUNT 5']
    assert raw.ok("UID SORT RETURN (ALL) (ARRIVAL) US-ASCII 2:4") == \
        [b'* ESEARCH (TAG "t10") UID ALL 2:4']
    assert raw.ok("SORT RETURN () (SUBJECT) US-ASCII ALL") == \
        [b'* ESEARCH (TAG "t11") ALL 1:5']
    assert raw.ok("SORT RETURN (COUNT MIN) (ARRIVAL) US-ASCII SEEN") == \
        [b'* ESEARCH (TAG "t12") COUNT 0']
    # RFC 5267 4.4: positions of the sorted result.
    assert raw.ok("SORT RETURN (PARTIAL 4:2) (REVERSE ARRIVAL) US-ASCII ALL") == \
        [b'* ESEARCH (TAG "t13") PARTIAL (2:4 4,3,2)']
    # Without RETURN, the SORT answer of RFC 5256.
    assert raw.ok("SORT (REVERSE ARRIVAL) US-ASCII 1:2") == [b"* SORT 2 1"]
    for bad in ("SORT RETURN (SAVE) (ARRIVAL) US-ASCII ALL",
                "SORT RETURN (MIN) US-ASCII ALL", "SORT RETURN (ARRIVAL) US-ASCII ALL"):
        tagged, _ = raw.command(bad)
        assert b" BAD " in tagged, bad
    raw.close()
    other.close()


def test_partial_results_of_search(inst):
    raw, other = mailbox(inst, "partial", 5)
    raw.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    raw.ok("EXPUNGE")
    assert raw.ok("SEARCH RETURN (PARTIAL 2:3) ALL") == \
        [b'* ESEARCH (TAG "t11") PARTIAL (2:3 2:3)']
    assert raw.ok("UID SEARCH RETURN (PARTIAL 2:3) ALL") == \
        [b'* ESEARCH (TAG "t12") UID PARTIAL (2:3 2,4)']
    assert raw.ok("SEARCH RETURN (PARTIAL 5:9 COUNT) ALL") == \
        [b'* ESEARCH (TAG "t13") COUNT 4 PARTIAL (5:9 NIL)']
    for bad in ("1", "1:*", "*:1", "0:3", "x"):
        tagged, _ = raw.command(f"SEARCH RETURN (PARTIAL {bad}) ALL")
        assert b" BAD " in tagged, bad
    # A partial result is given, but not kept up to date (RFC 5267 4.3.1).
    tagged, untagged = raw.command("SEARCH RETURN (PARTIAL 1:2 UPDATE) ALL")
    assert tagged == b't19 OK [NOUPDATE "t19"] SEARCH completed, without updates'
    assert untagged == [b'* ESEARCH (TAG "t19") PARTIAL (1:2 1:2)']
    raw.close()
    other.close()


# CONTEXT=SEARCH


def test_search_updates_follow_another_sessions_changes(inst):
    raw, other = mailbox(inst, "updates", 4, seen={1})
    assert raw.ok("SEARCH RETURN (UPDATE COUNT) SEEN") == \
        [b'* ESEARCH (TAG "t8") COUNT 1']

    other.ok("STORE 2:3 +FLAGS.SILENT (\\Seen)")
    untagged = raw.ok("NOOP")
    assert untagged[-1] == b'* ESEARCH (TAG "t8") ADDTO (2 2:3)', untagged

    # RFC 5267 4.3: the removal is numbered as the client knows the message,
    # so it comes before the EXPUNGE that renumbers the others.
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    assert raw.ok("NOOP") == [b'* ESEARCH (TAG "t8") REMOVEFROM (1 1)',
                              b"* 1 EXPUNGE"]

    # A new message: its ADDTO after EXISTS, in the numbering that then holds.
    data = message(9).decode()
    other.ok(f"APPEND updates (\\Seen) {{{len(data)}+}}\r\n{data}")
    untagged = raw.ok("NOOP")
    assert untagged[0] == b"* 4 EXISTS"
    assert untagged[-1] == b'* ESEARCH (TAG "t8") ADDTO (3 4)', untagged

    # The session's own STORE is reported at once.
    assert raw.ok("STORE 1 -FLAGS.SILENT (\\Seen)") == \
        [b'* ESEARCH (TAG "t8") REMOVEFROM (1 1)']

    # RFC 5267 4.3.5: after CANCELUPDATE, nothing more.
    raw.ok('CANCELUPDATE "t8"')
    other.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    assert not any(b"ESEARCH" in line for line in raw.ok("NOOP"))
    tagged, _ = raw.command('CANCELUPDATE "t8"')
    assert b" BAD " in tagged
    raw.close()
    other.close()


def test_uid_search_updates_reach_a_session_in_idle(inst):
    raw, other = mailbox(inst, "idling", 3)
    assert raw.ok("UID SEARCH RETURN (UPDATE ALL) FLAGGED") == \
        [b'* ESEARCH (TAG "t7") UID']
    raw.sock.sendall(b"i IDLE\r\n")
    assert raw.line().startswith(b"+ ")
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Flagged)")
    while (line := raw.line()).startswith(b"* 2 FETCH"):
        pass
    assert line == b'* ESEARCH (TAG "t7") UID ADDTO (1 2)'
    raw.sock.sendall(b"DONE\r\n")
    assert raw.line().startswith(b"i OK")
    raw.close()
    other.close()


def test_sort_updates_come_in_sort_order(inst):
    raw, other = mailbox(inst, "sorted", 3)
    assert raw.ok("UID SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) US-ASCII UNSEEN") \
        == [b'* ESEARCH (TAG "t7") UID ALL 3,2,1']
    for n in (4, 5):
        data = message(n).decode()
        other.ok(f"APPEND sorted {{{len(data)}+}}\r\n{data}")
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Seen)")
    untagged = raw.ok("NOOP")
    # RFC 5267 4.3: each message at its position, so that applying the
    # additions in order builds the server's order: 5, 4, 3, 1.
    assert b'* ESEARCH (TAG "t7") UID REMOVEFROM (2 2)' in untagged
    assert untagged[-1] == b'* ESEARCH (TAG "t7") UID ADDTO (1 5 2 4)', untagged
    raw.close()
    other.close()


def test_updates_are_kept_for_a_few_searches_only(inst):
    raw, other = mailbox(inst, "limits", 2)
    for n in range(5):
        assert raw.command("SEARCH RETURN (UPDATE) SEEN")[0].endswith(
            b"OK SEARCH completed")
    # RFC 5267 4.3.1: answered, and told that no updates will follow.
    tagged, untagged = raw.command("SEARCH RETURN (UPDATE COUNT) SEEN")
    assert tagged == b't11 OK [NOUPDATE "t11"] SEARCH completed, without updates'
    assert untagged == [b'* ESEARCH (TAG "t11") COUNT 0']
    # Another SELECT ends every context.
    raw.ok("SELECT limits")
    assert raw.command("SEARCH RETURN (UPDATE) SEEN")[0] == b"t13 OK SEARCH completed"
    other.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    assert raw.ok("NOOP")[-1] == b'* ESEARCH (TAG "t13") ADDTO (1 1)'
    raw.close()
    other.close()
