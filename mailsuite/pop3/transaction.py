"""The TRANSACTION state's verbs (RFC 1939 5 and 7): STAT, LIST, UIDL, RETR, TOP,
DELE, RSET, NOOP; and QUIT, which in that state enters the UPDATE state (RFC 1939
6) and only there removes the messages marked deleted.

What a session sees is its pop3.maildrop.Maildrop, fixed at login. DELE only marks
a message in the session; QUIT expunges the marked ones in one index commit, as
an IMAP client's EXPUNGE would, so IMAP sessions see them go; a session that ends
otherwise removes nothing. Message data is read and stuffed in the mailbox
service's threads, never on the event loop.
"""

import logging

from ..core.mailfolder import NoSuchMessage
from ..core.mailservice import StoreError
from . import headers, maildrop
from .replies import Bad, Err, multiline, ok

log = logging.getLogger("pop3d")

async def open_maildrop(mail, store):
    """The session's Maildrop of the user's INBOX, in one thread trip as a rule.
    The index answers as it stands: changes other Maildir tools made are taken
    in the background, for the next session (docs/decisions/0007), unless the
    INBOX was never indexed."""
    try:
        drop, stale = await mail.call(maildrop.snapshot, store)
    except maildrop.NotIndexed as exc:
        await mail.scan(exc.folder, force=True)
        drop, stale = await mail.call(maildrop.snapshot, store)
    if stale:
        mail.scan_soon(drop.folder)
    return drop


def arguments(arg, low, high, usage):
    words = arg.split()
    if not low <= len(words) <= high:
        raise Bad(f"expected {usage}")
    return words


async def stat(s, arg):
    # RFC 1939 5: "+OK count octets", the messages marked deleted left out.
    arguments(arg, 0, 0, "no arguments")
    count, octets = s.drop.stat()
    s.answer(f"{count} {octets}")


async def list_messages(s, arg):
    # RFC 1939 5
    words = arguments(arg, 0, 1, "at most a message number")
    drop = s.drop
    if words:
        number = drop.number(words[0])
        s.answer(f"{number} {drop.size(number)}")
        return
    count, octets = drop.stat()
    s.write(multiline(f"{count} messages ({octets} octets)", drop.listing()))


async def uidl(s, arg):
    # RFC 1939 7; what the unique-id is: pop3.maildrop.
    words = arguments(arg, 0, 1, "at most a message number")
    drop = s.drop
    if words:
        number = drop.number(words[0])
        s.answer(f"{number} {drop.unique_id(number)}")
        return
    s.write(multiline("unique-id listing follows", drop.unique_ids()))


async def retr(s, arg):
    # RFC 1939 5
    number = s.drop.number(arguments(arg, 1, 1, "a message number")[0])
    data = await message_data(s, number, maildrop.retrieve)
    s.write(ok(f"{s.drop.size(number)} octets"))
    await s.send(data)
    s.retrieved += 1


async def top(s, arg):
    # RFC 1939 7: TOP msg n, n a non-negative number of body lines.
    first, count = arguments(arg, 2, 2, "a message number and a number of lines")
    number = s.drop.number(first)
    if not (count.isascii() and count.isdigit()) or len(count) > maildrop.MAX_NUMBER:
        raise Bad(f"not a number of lines: {count[:20]}")
    if int(count) == 0:
        data = await header(s, number)
    else:
        data = await message_data(s, number, maildrop.top, int(count))
    s.write(ok("top of message follows"))
    await s.send(data)


async def header(s, number):
    """TOP `number` 0, read ahead while the client walks the list (pop3.headers)."""
    drop = s.drop
    data = drop.ahead.take(number)
    if data is not None:
        return data
    numbers = drop.ahead.batch(number, drop)
    found = await s.mail.call(headers.read, drop.folder, [drop.uid(n) for n in numbers])
    found = {n: found[drop.uid(n)] for n in numbers if drop.uid(n) in found}
    data = found.pop(number, None)
    if data is None:
        raise Err(f"message {number} was removed by another client")
    drop.ahead.keep(found)
    return data


async def message_data(s, number, read, *args):
    try:
        return await s.mail.call(read, s.drop.folder, s.drop.uid(number), *args)
    except NoSuchMessage:
        raise Err(f"message {number} was removed by another client") from None


async def dele(s, arg):
    # RFC 1939 5: marked now, removed at QUIT.
    number = s.drop.number(arguments(arg, 1, 1, "a message number")[0])
    s.drop.deleted.add(number)
    s.answer(f"message {number} deleted")


async def rset(s, arg):
    # RFC 1939 5
    arguments(arg, 0, 0, "no arguments")
    s.drop.deleted.clear()
    count, octets = s.drop.stat()
    s.answer(f"maildrop has {count} messages ({octets} octets)")


async def noop(s, arg):
    # RFC 1939 5
    arguments(arg, 0, 0, "no arguments")
    s.answer()


async def quit(s, arg):
    """RFC 1939 4 and 6: in the AUTHORIZATION state, goodbye; in the TRANSACTION
    state, the UPDATE state first: the marked messages are removed. The lock is
    let go before the answer, so that the client's next session finds the
    mailbox free."""
    arguments(arg, 0, 0, "no arguments")
    s.done = True
    s.end_reason = "quit"
    hostname = s.cfg.server.hostname
    if s.drop is None:
        s.answer(f"{hostname} POP3 server signing off")
        return
    marked = s.drop.marked()
    try:
        if marked:
            s.removed = len(await s.mail.call(s.drop.folder.expunge, marked))
    except StoreError as exc:
        log.error("%s: deleted messages not removed: %s", s.who(), exc)
        await s.let_go()
        s.write(Err("some deleted messages not removed", "SYS/TEMP").line())
        return
    await s.let_go()
    left = len(s.drop) - len(marked)
    s.answer(f"{hostname} POP3 server signing off ({left} messages left)")
