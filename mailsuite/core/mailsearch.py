"""Searching the text of a folder's messages file by file: the SEARCH keys BODY and
TEXT, and HEADER with a field the columns do not keep (RFC 9051 6.4.4). The text
is decoded as core.msgtext describes; a string matches case-insensitively.

    Test(needle, scope)         # scope: BODY, TEXT, or a lowercase field name
    matching(folder, uids, test) -> [uid]       # in a worker thread
    matching_at(root, name, uids, test) -> [uid]  # the same in the scanning
                                                # process (core.mailservice)

Reading files is the cost, so a caller narrows `uids` first with what the index
answers cheaply (flags, dates, columns). Python's work per message holds the
interpreter: for many messages the scanning process does it, so that the daemon's
other sessions go on.

Failure policy: a message whose file is gone does not match (the next scan
expunges it); a message that cannot be decoded is searched as far as it decodes.
"""

import os
from typing import NamedTuple

from .mailcolumns import read_header
from .msgtext import Finder, fields, header_value, split

BODY, TEXT = "\0body", "\0text"     # not field names: those have no NUL


class Test(NamedTuple):
    needle: str         # what to find; "" with a field: the field is present
    scope: str          # BODY, TEXT, or a header field's name in lower case


def matching(folder, uids, test):
    """The uids (ascending) of these messages that pass the test."""
    with folder.index.read() as txn:
        state = txn.folder(folder.name)
        records = [] if state is None else list(txn.messages(state.id, sorted(uids)))
    finder = Finder([test.needle])
    found = []
    for record in records:
        data = _read(folder, record, test.scope not in (BODY, TEXT))
        if data is not None and _passes(data, test, finder):
            found.append(record.uid)
    return found


def matching_at(root, name, uids, test):
    """matching() for the scanning process, which opens the store itself."""
    from .maildir import Store
    with Store(root) as store:
        return matching(store.folder(name, build=False), uids, test)


def _passes(data, test, finder):
    if test.scope == BODY:
        return bool(finder.search(data, header=False, body=True))
    if test.scope == TEXT:
        return bool(finder.search(data, header=True, body=True))
    head, _ = split(data)
    needle = finder.needles[0]
    for name, raw in fields(head):
        if name == test.scope and needle in header_value(raw).casefold():
            return True
    return False


def _read(folder, record, header_only):
    """The message's bytes (its header section if that is all that counts), or
    None if its file is gone."""
    path = os.path.join(folder.path, record.dir, record.filename)
    try:
        with open(path, "rb") as f:
            return read_header(f) if header_only else f.read()
    except FileNotFoundError:
        return None
