"""A message on its way from an SMTP session into the queue: what smtpd and submitd
share between the end of the envelope and the 250.

    incoming = Incoming(session, envelope, spool, alone)
    await incoming.write(piece)      # as the pieces of DATA or BDAT arrive
    qid = await incoming.commit()    # durable in the spool on return
    incoming.discard()               # always, in a finally: drops an uncommitted draft

The first pieces are held until the header section has come (or the header limit
is passed), because the fields the service puts on top (Received; for submitd also
Message-ID and Date when missing) depend on it: `session.top_fields(qid, envelope,
head)` gives them, after `session.filter_head(head)` had its say. Before the commit, `session.before_queue(incoming)` may still
look at the whole message, and put fields on top of it (`incoming.prepend`:
submitd's DKIM-Signature). The record gets
`session.queue_info()` and `session.queue_options(envelope)` (core.spool.Options).

Failure policy: a full queue is 452 4.3.1 and any other spool failure 451 4.3.0
(RFC 5321 4.2.3, RFC 3463 3.4), both logged; the client keeps the message and
tries again, and the draft's file, if any, is removed.
"""

import logging

from ..core.spool import Recipient, SpoolError, SpoolFull, new_qid
from .errors import ProtocolError

log = logging.getLogger("smtp")


class Incoming:
    def __init__(self, session, envelope, spool, alone=False):
        self.session = session
        self.envelope = envelope
        self.spool = spool
        self.alone = alone
        self.qid = new_qid()
        self.draft = spool.draft(self.qid)
        self.head = bytearray()     # the first pieces, until the header section ends
        self.started = False        # the top fields and the head are written
        self.header_section = b""   # the client's header fields, once started

    async def write(self, piece):
        if self.started:
            return await self._spooled(self.draft.write(piece))
        self.head += piece
        if _header_complete(self.head, self.session.limits.max_header_size):
            await self._start()

    async def _start(self):
        self.started = True
        head, self.head = self.session.filter_head(bytes(self.head)), bytearray()
        self.header_section = head.partition(b"\r\n\r\n")[0] + b"\r\n"
        top = self.session.top_fields(self.qid, self.envelope, head)
        await self._spooled(self.draft.write(top + head))

    async def commit(self):
        """Queue the message; returns its queue id once it is durable."""
        if not self.started:
            await self._start()
        await self.session.before_queue(self)
        envelope = self.envelope
        recipients = [_recipient(str(path), envelope.dsn.get(str(path)))
                      for path in envelope.recipients]
        await self._spooled(self.spool.enqueue(
            self.qid, str(envelope.sender), recipients, self.draft,
            self.session.queue_info(), alone=self.alone,
            options=self.session.queue_options(envelope)))
        return self.qid

    async def prepend(self, fields):
        """Put header fields on top of the message (before the commit)."""
        await self._spooled(self.draft.prepend(fields))

    def discard(self):
        self.draft.discard()

    @property
    def size(self):
        return self.draft.size

    async def _spooled(self, step):
        try:
            return await step
        except SpoolFull as exc:
            # RFC 5321 4.2.3 (452), RFC 3463 3.4 (4.3.1: mail system full): the
            # client keeps the message and retries later.
            log.error("%s: not queued: %s", self.qid, exc)
            raise ProtocolError(452, "4.3.1", "insufficient system storage")
        except SpoolError as exc:
            # Permissions, a failing disk: the client keeps the message and retries.
            log.error("%s: not queued: %s", self.qid, exc)
            raise ProtocolError(451, "4.3.0", "queue unavailable, try again later")


def _header_complete(head, max_header):
    """Whether `head`, the message's first octets, holds its whole header
    section, or more than the limit allows (the message is then refused at its
    end, and what it holds no longer matters)."""
    return (head.startswith(b"\r\n") or b"\r\n\r\n" in head
            or len(head) > max_header + 4)


def _recipient(address, dsn):
    if dsn is None:
        return address
    notify, orcpt = dsn
    return Recipient(address, notify=notify, orcpt=orcpt)
