"""IDLE (RFC 2177; RFC 9051 6.3.13) and the hints that wake it.

deliverd sends the address of the user it just delivered to, as one datagram, to
`<runtime_dir>/imapd.notify`. The Hub reads them and wakes that user's sessions in
IDLE, which then refresh their folder and report EXISTS, EXPUNGE and flag changes,
and what NOTIFY asked to hear of the other mailboxes (notify.py).
Hints are only hints (core.notify): one may be lost, or the socket may be unusable,
so an idling session also looks every POLL seconds on its own.
"""

import asyncio
import logging

from ..core import notify
from ..core.stream import LineTooLong
from . import notify as notifications
from .errors import Bad, Logout
from .mailbox import report_changes
from .parser import MAX_LINE, expect

log = logging.getLogger("imapd")

POLL = 5.0      # seconds between looks at the folder when no hint comes


class Hub:
    """Routes delivery hints to the IDLE sessions of the addressed user."""

    def __init__(self, path):
        self.path = path
        self.waiting = {}           # address -> set of asyncio.Event
        self.listener = None

    async def run(self):
        try:
            self.listener = notify.Listener(notify.bind(self.path))
        except OSError as exc:
            log.error("cannot bind %s: %s; IDLE falls back to polling", self.path, exc)
            return
        while True:
            for hint in await self.listener.wait(3600):
                self.wake(hint.decode("utf-8", "replace").strip().lower())

    def wake(self, address):
        """Wake the user's sessions in IDLE: their folder may have changed."""
        for event in self.waiting.get(address, ()):
            event.set()

    def register(self, address, event):
        self.waiting.setdefault(address, set()).add(event)

    def unregister(self, address, event):
        events = self.waiting.get(address, set())
        events.discard(event)
        if not events:
            self.waiting.pop(address, None)

    def close(self):
        if self.listener is not None:
            self.listener.close()


async def idle(s, cmd):
    expect(cmd.args, 0, "no arguments")
    await s.continuation("idling")
    wake = asyncio.Event()
    s.ctx.hub.register(s.user, wake)
    reader = asyncio.ensure_future(s.stream.readline(MAX_LINE))
    try:
        await _report(s)
        s.waiting = True
        await _idle_until_done(s, reader, wake)
    finally:
        s.waiting = False
        s.ctx.hub.unregister(s.user, wake)
        reader.cancel()
    try:
        line = reader.result()
    except LineTooLong:
        raise Bad("expected DONE") from None
    # RFC 2177 3: the client ends IDLE with DONE, and nothing else.
    if line.rstrip(b"\r\n").upper() != b"DONE":
        raise Bad("expected DONE")
    return "IDLE terminated"


async def _idle_until_done(s, reader, wake):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.timeout()
    while True:
        waiter = asyncio.ensure_future(wake.wait())
        timeout = max(0.0, min(POLL, deadline - loop.time()))
        done, _ = await asyncio.wait({reader, waiter}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if reader in done:
            return
        if loop.time() >= deadline:
            # RFC 9051 5.4: the autologout timer runs during IDLE too.
            raise Logout("Autologout; idle for too long")
        wake.clear()
        await _report(s)


async def _report(s):
    if s.selected is not None:
        await report_changes(s)
    # NOTIFY's news of the other mailboxes (RFC 5465 3: IDLE is the moment too).
    await notifications.report(s)
    await s.flush()
