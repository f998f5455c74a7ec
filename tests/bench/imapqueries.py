"""The searching operations of the IMAP benchmark: what a client asks of a big
mailbox when its user searches, sorts or threads it, in one session of its own.

  search_subject  UID SEARCH SUBJECT "invoice"        a header field
  search_body     UID SEARCH BODY "index folder"      the text of every message
  search_unseen   UID SEARCH UNSEEN                   flags only
  sort_date       UID SORT (DATE) UTF-8 ALL           RFC 5256 3: the sent date
  thread_refs     UID THREAD REFERENCES UTF-8 ALL     RFC 5256 4

Each query is asked once untimed first, as a client's first search does (Dovecot
adds the fields to its cache then, our index builds its columns on first need, and
the message files come into the page cache), then timed REPEAT times in a row for
the median; BODY, which reads every message, is timed once. The size of each
answer (UIDs found, threads) is kept under "answers", so that the two servers are
held to the same answer for the same mail; a query a server refuses is kept under
"refused" with its words, and has no time.
"""

import re
from typing import Callable, NamedTuple

from imapops import logged_in, select_inbox, timed
from imapwire import ImapError

REPEAT = 5


class Query(NamedTuple):
    key: str
    command: str
    answer: Callable        # the reply's responses -> the size of the answer
    repeat: int             # timings whose median is the figure


def search_hits(responses):
    """UIDs in the `* SEARCH` responses (RFC 9051 7.3.4)."""
    return sum(len(r.split()) - 2 for r in responses if r.startswith(b"* SEARCH"))


def sort_hits(responses):
    """UIDs in the `* SORT` responses (RFC 5256 4)."""
    return sum(len(r.split()) - 2 for r in responses if r.startswith(b"* SORT"))


def thread_count(responses):
    """Threads in the `* THREAD` responses: their outermost parenthesized lists
    (RFC 5256 4)."""
    count = 0
    for response in responses:
        if response.startswith(b"* THREAD"):
            depth = 0
            for byte in re.findall(rb"[()]", response):
                count += byte == b"(" and depth == 0
                depth += 1 if byte == b"(" else -1
    return count


QUERIES = [
    Query("search_subject", 'UID SEARCH SUBJECT "invoice"', search_hits, REPEAT),
    Query("search_body", 'UID SEARCH BODY "index folder"', search_hits, 1),
    Query("search_unseen", "UID SEARCH UNSEEN", search_hits, REPEAT),
    Query("sort_date", "UID SORT (DATE) UTF-8 ALL", sort_hits, REPEAT),
    Query("thread_refs", "UID THREAD REFERENCES UTF-8 ALL", thread_count, REPEAT),
]


def run_queries(server, plan):
    """{query key: seconds or None, "answers": {...}, "refused": {...}}, in one
    session."""
    out = {"answers": {}, "refused": {}}
    client = logged_in(server, plan.user)
    try:
        select_inbox(client, plan.count)
        for query in QUERIES:
            out[query.key] = run_query(client, query, out)
    finally:
        client.logout()
        server.session_over()
    return out


def run_query(client, query, out):
    """The query's seconds (a median if it is repeated), or None if refused."""
    try:
        client.command(query.command)
        times = []
        for _ in range(query.repeat):
            seconds, reply = timed(client.command, query.command)
            times.append(seconds)
    except ImapError as exc:
        out["refused"][query.key] = f"{query.command}: {exc}"[:200]
        return None
    out["answers"][query.key] = query.answer(reply.responses)
    return sorted(times)[len(times) // 2]


def problems(samples):
    """What the queries' runs say is wrong, once each: a query a server refused,
    and an answer of ours that differs from Dovecot's on the same mail."""
    found = {}
    for name, runs in samples.items():
        for figures in runs:
            for text in figures.get("refused", {}).values():
                found[f"{name} refused {text}"] = None
    for ours, theirs in zip(samples.get("mailsuite", []), samples.get("dovecot", [])):
        for key, mine in ours.get("answers", {}).items():
            other = theirs.get("answers", {}).get(key)
            if other is not None and other != mine:
                found[f"{key}: mailsuite found {mine}, dovecot {other}"] = None
    return list(found)
