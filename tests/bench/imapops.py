"""The operations of the IMAP benchmark, as a client does them, over sockets only.

One run on one server (`run_once`) does, in this order:

  cold          connect, LOGIN and SELECT INBOX with the index removed first
  login_busy    another user's connect and LOGIN while session C's SELECT rebuilds
                the index, removed again; None when that SELECT had already
                answered before the other user connected
  (untimed)     a client's first visit after the rebuild: SELECT, the flags and the
                newest 50, so that what follows is measured warm on both servers
                (Dovecot fills its cache at the first FETCH of header fields)
  warm          connect, LOGIN and SELECT INBOX
  select        SELECT alone, in a session already logged in (session A)
  flags         UID FETCH 1:* (FLAGS) in A: what a client does to resync
  newest        FETCH of the newest 50: flags, date, size and the header fields a
                message list shows (ENVELOPE and BODYSTRUCTURE too with `structure`)
  store_add     UID STORE +FLAGS (\\Flagged) on 1,000 messages in the middle, in A
  memory        what session A cost the server, from before its connect to here
                (see the servers' memory_used)
  memory_mailbox  the same from the end of its LOGIN: our LOGIN derives the password
                key (argon2id, 64 MiB) in imapd, Dovecot's in its auth process
  select_after  SELECT by a second session B, after A's flag change
  store_remove  UID STORE -FLAGS (\\Flagged) on the same messages, in A
  login         another user's connect and LOGIN, alone

Times are seconds (perf_counter); memory is KiB. The operations that take a
millisecond or two and change nothing (select, newest) are timed REPEAT times in a
row and give their median, so that one scheduling hiccup on a shared machine does
not decide the figure; the same for both servers. Every answer is checked (the
message count of SELECT, one FETCH response per message asked for), so that a
fast wrong answer is an error rather than a good figure. `cold=False` leaves out
the two operations that rebuild the index, for the runs beyond --cold-runs.
"""

import re
import time
from typing import NamedTuple

from imapwire import Client, ImapError

STORE_COUNT = 1000
NEWEST = 50
REPEAT = 5
HEADER_FIELDS = ("DATE FROM TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES "
                 "LIST-ID CONTENT-TYPE")
STRUCTURE = "ENVELOPE BODYSTRUCTURE"
_EXISTS = re.compile(rb"\* (\d+) EXISTS")
_UID = re.compile(rb"UID (\d+)")


class User(NamedTuple):
    address: str
    password: str


class Plan(NamedTuple):
    user: User              # the big mailbox
    count: int              # its messages
    other: User             # another user, with a small mailbox
    structure: bool         # ENVELOPE and BODYSTRUCTURE in the newest-50 FETCH


def timed(fn, *args):
    """(seconds, result) of fn(*args)."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def newest_items(structure):
    """What a client asks for to show the newest messages in its list."""
    items = ("UID FLAGS INTERNALDATE RFC822.SIZE "
             f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]")
    return f"({items} {STRUCTURE})" if structure else f"({items})"


def logged_in(server, user):
    client = Client(server.port)
    try:
        client.login(user.address, user.password)
    except BaseException:
        client.close()
        raise
    return client


def select_inbox(client, count):
    check_exists(client.command("SELECT INBOX"), count)


def check_exists(reply, count):
    found = [int(m.group(1)) for r in reply.responses for m in [_EXISTS.match(r)] if m]
    if found != [count]:
        raise ImapError(f"SELECT reported {found or 'no'} EXISTS, expected {count}")


def check_fetched(reply, want, what):
    got = sum(1 for r in reply.responses if b" FETCH " in r[:30])
    if got != want:
        raise ImapError(f"{what}: {got} FETCH responses, expected {want}")


def login_select(server, plan):
    """Seconds to connect, LOGIN and SELECT; the LOGOUT after is not timed."""
    start = time.perf_counter()
    client = logged_in(server, plan.user)
    try:
        select_inbox(client, plan.count)
        seconds = time.perf_counter() - start
    finally:
        client.logout()
        server.session_over()
    return seconds


def run_once(server, plan, cold=True):
    """{operation: figure} for one run on one server."""
    out = {}
    if cold:
        server.make_cold(plan.user.address)
        out["cold"] = login_select(server, plan)
        out["login_busy"] = login_during_rebuild(server, plan)
    first_visit(server, plan)
    out["warm"] = login_select(server, plan)
    out.update(session_ops(server, plan))
    out["login"] = login_alone(server, plan.other)
    return out


def first_visit(server, plan):
    """What a client does on opening the mailbox for the first time; untimed."""
    client = logged_in(server, plan.user)
    try:
        select_inbox(client, plan.count)
        client.command("UID FETCH 1:* (FLAGS)")
        client.command(f"FETCH {max(1, plan.count - NEWEST + 1)}:*",
                       newest_items(plan.structure))
    finally:
        client.logout()
        server.session_over()


def session_ops(server, plan):
    out = {}
    mark = server.memory_mark()
    a = logged_in(server, plan.user)
    try:
        login_peak = server.memory_used(mark, reset=True)
        out["select"] = repeated(select_inbox, a, plan.count)
        out["flags"], reply = timed(a.command, "UID FETCH 1:* (FLAGS)")
        check_fetched(reply, plan.count, "UID FETCH 1:*")
        uids = store_range(reply, plan.count)
        first = max(1, plan.count - NEWEST + 1)
        out["newest"] = repeated(fetch_newest, a, first, plan)
        out["store_add"], _ = timed(a.command, f"UID STORE {uids} +FLAGS (\\Flagged)")
        out["memory_mailbox"] = server.memory_used(mark)
        out["memory"] = max(login_peak, out["memory_mailbox"])
        out["select_after"] = select_in_new_session(server, plan)
        out["store_remove"], _ = timed(a.command, f"UID STORE {uids} -FLAGS (\\Flagged)")
    finally:
        a.logout()
        server.session_over()
    return out


def repeated(fn, *args):
    """The median of REPEAT timings of fn(*args)."""
    return sorted(timed(fn, *args)[0] for _ in range(REPEAT))[REPEAT // 2]


def fetch_newest(client, first, plan):
    reply = client.command(f"FETCH {first}:*", newest_items(plan.structure))
    check_fetched(reply, plan.count - first + 1, "FETCH of the newest")


def store_range(reply, count):
    """A UID range of STORE_COUNT messages in the middle of the mailbox."""
    uids = sorted(int(m.group(1)) for r in reply.responses for m in [_UID.search(r)] if m)
    size = min(STORE_COUNT, count)
    start = (count - size) // 2
    return f"{uids[start]}:{uids[start + size - 1]}"


def select_in_new_session(server, plan):
    """Session B logs in untimed; its SELECT is what is timed."""
    b = logged_in(server, plan.user)
    try:
        seconds, _ = timed(select_inbox, b, plan.count)
    finally:
        b.logout()
    return seconds


def login_alone(server, user):
    """Seconds to connect and LOGIN."""
    seconds, client = timed(logged_in, server, user)
    client.logout()
    server.session_over()
    return seconds


def login_during_rebuild(server, plan):
    """Seconds of the other user's connect and LOGIN while session C's SELECT
    rebuilds the index; None if C had its answer before the connect. The other
    user logs in once first, untimed, so that this LOGIN and the one timed alone
    find a server in the same state (a server with an auth cache has it warm in
    both)."""
    server.make_cold(plan.user.address)
    login_alone(server, plan.other)
    c = logged_in(server, plan.user)
    other = None
    try:
        tag = c.send("SELECT INBOX")
        start = time.perf_counter()
        overlapped = not c.pending()
        other = logged_in(server, plan.other)
        seconds = time.perf_counter() - start
        check_exists(c.finish(tag), plan.count)
    finally:
        if other is not None:
            other.logout()
        c.logout()
        server.session_over()
    return seconds if overlapped else None

