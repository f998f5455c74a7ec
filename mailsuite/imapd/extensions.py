"""Session-level extensions: ENABLE (RFC 5161), ID (RFC 2971), UNAUTHENTICATE
(RFC 8437) and COMPRESS=DEFLATE (RFC 4978).

What a client ENABLEs lives in `s.enabled` for the rest of the session (or until
UNAUTHENTICATE): CONDSTORE and QRESYNC (imapd.condstore), UTF8=ACCEPT (mailbox names
in UTF-8, imapd.names) and IMAP4rev2 when it is advertised (decision 0012). A client's
ID is logged once per session, escaped and bounded, whatever it sent.
"""

import logging

from .. import __version__
from .errors import Bad, No
from .parser import Atom, String, atom, expect
from .response import ANSWERED, quoted, status, text

log = logging.getLogger("imapd")

# RFC 2971 3.3: at most 30 pairs, fields of 30 octets, values of 1024.
ID_PAIRS, ID_FIELD, ID_VALUE = 30, 30, 1024
LOGGED_ID = 200         # characters of a client's ID in the log


def enableable(s):
    """The extensions ENABLE can turn on in this session (RFC 5161 3.1)."""
    names = {"CONDSTORE", "QRESYNC", "UTF8=ACCEPT"}
    if s.cfg.imapd.imap4rev2:
        names.add("IMAP4rev2")
    return {name.upper(): name for name in names}


async def enable(s, cmd):
    # RFC 5161 3.1: ENABLE takes one or more capability names; those it does not
    # know, or cannot enable, are ignored.
    if not cmd.args:
        raise Bad("expected capability names")
    known = enableable(s)
    wanted = [atom(arg, "a capability name") for arg in cmd.args]
    # RFC 5161 3.2: ENABLED lists what this command turned on, and nothing else.
    turned_on = []
    for name in wanted:
        name = known.get(name)
        if name is not None and name not in s.enabled and name not in turned_on:
            turned_on.append(name)
    s.enabled.update(turned_on)
    # RFC 7162 3.2.3: QRESYNC comes with CONDSTORE.
    if "QRESYNC" in s.enabled:
        s.enabled.add("CONDSTORE")
    s.untagged(" ".join(["ENABLED", *turned_on]))


async def id_command(s, cmd):
    # RFC 2971 3.1: ID NIL or ID (field value ...); the server answers with its own.
    pairs = _id_pairs(expect(cmd.args, 1, "NIL or a list of field-value pairs")[0])
    if pairs and not s.id_logged:
        s.id_logged = True
        described = " ".join(f"{field}={value}" for field, value in pairs)
        log.info("id: %s %s", s.who(), text(described, LOGGED_ID))
    s.untagged(f'ID ("name" "mailsuite" "version" {quoted(__version__)})')


def _id_pairs(token):
    if isinstance(token, Atom) and token.upper() == "NIL":
        return []
    if not isinstance(token, list) or len(token) % 2:
        raise Bad("expected NIL or a list of field-value pairs")
    # RFC 2971 3.3: the limits a client must keep.
    if len(token) > 2 * ID_PAIRS:
        raise Bad(f"more than {ID_PAIRS} ID pairs")
    pairs = []
    for field, value in zip(token[::2], token[1::2]):
        if not isinstance(field, String) or len(field) > ID_FIELD:
            raise Bad(f"an ID field is a string of at most {ID_FIELD} octets")
        if isinstance(value, Atom) and value.upper() == "NIL":
            value = String(b"NIL")
        if not isinstance(value, String) or len(value) > ID_VALUE:
            raise Bad(f"an ID value is a string of at most {ID_VALUE} octets, or NIL")
        pairs.append((field.decode("utf-8", "replace"),
                      value.decode("utf-8", "replace")))
    return pairs


async def unauthenticate(s, cmd):
    # RFC 8437 3: the mailbox is left without expunge and the session is as it was
    # before login (TLS and COMPRESS stay); a new login may follow.
    expect(cmd.args, 0, "no arguments")
    await s.logged_out("unauthenticate")


async def compress(s, cmd):
    # RFC 4978 3: DEFLATE is the one mechanism.
    mechanism = atom(expect(cmd.args, 1, "a compression mechanism")[0],
                     "a compression mechanism")
    if mechanism != "DEFLATE":
        raise Bad("unknown compression mechanism")

    # RFC 4978 3: compression that is already active is refused (RFC 5530 3).
    if s.stream.compressed:
        raise No("compression is already active", "COMPRESSIONACTIVE")

    # RFC 4978 3: the OK goes out as it is, every byte after it is deflated.
    s.write(status(cmd.tag, "OK", "DEFLATE active"))
    await s.flush()
    s.stream.compress()
    return ANSWERED
