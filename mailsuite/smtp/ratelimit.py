"""submitd's sending rate limit: messages per sender (a user, or a relay client's
address) over the last hour, a sliding window; smtpd counts connections per
client address in the same way, over a minute (`window`).

    limiter = RateLimit(per_hour, clock=time.monotonic, window=WINDOW)
    limiter.allows(key) -> bool      # at MAIL: room for one more message?
    limiter.count(key)               # once a message is queued

Memory is bounded: a key keeps at most `per_hour` times, and keys whose last
message is older than the window are forgotten; past MAX_KEYS the least recently
used key goes first. The counts live in the process: a restart forgets them, which
costs at most one extra hour's worth of messages.
"""

import time
from collections import OrderedDict, deque

WINDOW = 3600           # seconds
MAX_KEYS = 100000


class RateLimit:
    def __init__(self, per_hour, clock=time.monotonic, window=WINDOW):
        self.per_hour = per_hour        # per window, an hour unless told
        self.clock = clock
        self.window = window
        self._sent = OrderedDict()      # key -> deque of times, oldest first

    def allows(self, key):
        """Whether `key` may send one more message now (0 is no limit)."""
        if not self.per_hour:
            return True
        times = self._recent(key)
        return times is None or len(times) < self.per_hour

    def count(self, key):
        """Note one message sent by `key`."""
        if not self.per_hour:
            return
        times = self._recent(key)
        if times is None:
            times = self._sent[key] = deque(maxlen=self.per_hour)
        times.append(self.clock())
        self._sent.move_to_end(key)
        while len(self._sent) > MAX_KEYS:
            self._sent.popitem(last=False)

    def _recent(self, key):
        """The key's times within the window, or None when it has none."""
        times = self._sent.get(key)
        if times is None:
            return None
        start = self.clock() - self.window
        while times and times[0] <= start:
            times.popleft()
        if not times:
            del self._sent[key]
            return None
        return times
