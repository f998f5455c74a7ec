"""The search operations of the IMAP benchmark (issue 13): what a client does to
find mail and to show a folder sorted or threaded, on the big mailbox.

  search_subject  UID SEARCH SUBJECT, a word in a tenth of the subjects
  search_body     UID SEARCH BODY, a word in no message: every text part is read
  search_unseen   UID SEARCH UNSEEN
  sort_date       UID SORT (DATE) of the whole mailbox
  thread_refs     UID THREAD REFERENCES of the whole mailbox

Each is measured warm: it is done once untimed first, since both servers build
what these need on first use (Dovecot its cache file, ours the index's columns)
and keep it. The quick ones give the median of imapops.REPEAT in a row; BODY,
which reads every file, is timed once. Every answer is checked, so that a fast
wrong answer is an error rather than a good figure: counts that the generated
mail fixes (every message in SORT and THREAD, none for BODY), and some messages
for SUBJECT and UNSEEN.
"""

import re

from imapops import logged_in, repeated, select_inbox, timed
from imapwire import ImapError

SUBJECT_WORD = "invoice"        # maildirgen's topic "invoice 4711"
BODY_WORD = "zanzibar"          # not in maildirgen's words
_NUMBERS = re.compile(rb"\d+")

OPERATIONS = {
    "search_subject": (f"UID SEARCH SUBJECT {SUBJECT_WORD}", "SEARCH", "some"),
    "search_unseen": ("UID SEARCH UNSEEN", "SEARCH", "some"),
    "sort_date": ("UID SORT (DATE) UTF-8 ALL", "SORT", "all"),
    "thread_refs": ("UID THREAD REFERENCES UTF-8 ALL", "THREAD", "all"),
    "search_body": (f"UID SEARCH BODY {BODY_WORD}", "SEARCH", "none"),
}
ONCE = {"search_body"}          # timed once: it reads every message


def search_ops(server, plan):
    """{operation: seconds} in one session on the big mailbox."""
    out = {}
    client = logged_in(server, plan.user)
    try:
        select_inbox(client, plan.count)
        for key, (command, kind, want) in OPERATIONS.items():
            check(client.command(command), kind, want, plan.count)
            if key in ONCE:
                out[key], reply = timed(client.command, command)
                check(reply, kind, want, plan.count)
            else:
                out[key] = repeated(run, client, command, kind, want, plan.count)
    finally:
        client.logout()
        server.session_over()
    return out


def run(client, command, kind, want, count):
    check(client.command(command), kind, want, count)


def check(reply, kind, want, count):
    """The answer holds one `* kind` response with as many numbers as wanted:
    "all" the messages, "none", or "some" (at least one, fewer than all)."""
    head = b"* " + kind.encode("ascii")
    lines = [r for r in reply.responses if r.upper().startswith(head)]
    if len(lines) != 1:
        raise ImapError(f"{kind}: {len(lines)} responses, expected one")
    found = len(_NUMBERS.findall(lines[0]))
    wanted = {"all": found == count, "none": found == 0,
              "some": 0 < found < count}[want]
    if not wanted:
        raise ImapError(f"{kind}: {found} messages, expected {want} of {count}")
