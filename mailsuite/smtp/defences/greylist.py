"""Greylisting (RFC 6647): the first message of a (client network, sender,
recipient) triplet is answered 451 4.7.1 at RCPT; a real MTA retries after a
while and gets through, most spam software never does.

    greylist = Greylist(state_dir, cfg.greylist)
    greylist.wait(ip, sender, recipient) -> float   # seconds left; 0: it passes
    greylist.close()

The client's network is its IPv4 /24 or IPv6 /64, as big senders retry from
another address of their pool. A retry at least `delay` seconds after the first
attempt, and within `retry_window`, passes; a triplet that passed is let
through at once for `expiry` seconds after its last message. The triplets live
in LMDB, `<state_dir>/greylist`, written without fsync: a crash may forget a
few, which costs their senders one more retry, never a message. Records past
both windows are swept once an hour. Every call touches the disk: for a
thread, never the event loop.
"""

import ipaddress
import struct
import time
from pathlib import Path

from ...core import lmdbenv

MAP_SIZE = 1 << 30          # address space only; the file grows as it is used
SWEEP_INTERVAL = 3600       # seconds between two sweeps of old triplets
_RECORD = struct.Struct("!QQ")      # first attempt, last pass (0: never), seconds


def triplet(ip, sender, recipient):
    """The key of a triplet: network, sender and recipient, lowercased."""
    address = ipaddress.ip_address(ip)
    address = getattr(address, "ipv4_mapped", None) or address
    network = ipaddress.ip_network((address, 24 if address.version == 4 else 64),
                                   strict=False)
    return f"{network}\0{sender.lower()}\0{recipient.lower()}".encode()


class Greylist(lmdbenv.Handle):
    def __init__(self, state_dir, settings, clock=time.time):
        self._shared = lmdbenv.acquire(Path(state_dir) / "greylist", ("triplets",),
                                       map_size=MAP_SIZE, sync=False)
        self.env = self._shared.env
        self.db = self._shared.db["triplets"]
        self.delay = settings.delay
        self.retry_window = settings.retry_window
        self.expiry = settings.expiry
        self.clock = clock
        self.swept = clock()

    def wait(self, ip, sender, recipient):
        """Seconds the triplet has still to wait (0: it passes), noting this
        attempt."""
        key, now = triplet(ip, sender, recipient), int(self.clock())
        with self.env.begin(write=True, db=self.db) as txn:
            raw = txn.get(key)
            first, passed = _RECORD.unpack(raw) if raw else (0, 0)
            first, passed, left = self._decide(first, passed, now)
            txn.put(key, _RECORD.pack(first, passed))
        if now - self.swept >= SWEEP_INTERVAL:
            self.sweep(now)
        return left

    def _decide(self, first, passed, now):
        """(first, passed, seconds left) after an attempt at `now`."""
        if passed and now - passed <= self.expiry:
            return first, now, 0
        if not first or now - first > self.retry_window:
            first = now
        if now - first >= self.delay:
            return first, now, 0
        return first, 0, self.delay - (now - first)

    def sweep(self, now):
        """Forget the triplets that would count as new anyway."""
        self.swept = now
        with self.env.begin(write=True, db=self.db) as txn:
            for key, raw in list(txn.cursor()):
                first, passed = _RECORD.unpack(raw)
                if now - max(first, passed) > max(self.expiry, self.retry_window):
                    txn.delete(key)
