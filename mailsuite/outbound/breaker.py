"""A circuit breaker per destination: after `threshold` attempts in a row that
reached no host of a destination, its mail is deferred without an attempt for
`cooldown` seconds, so that a dead destination does not cost a connection
timeout per message; then one attempt is let through, and its result closes
the circuit or opens it again.

    breakers = Breakers(threshold, cooldown, clock=time.monotonic)
    breakers.check(destination)       # raises DeliveryFailed (4.4.1) while open
    breakers.failed(destination);  breakers.reached(destination)

Only a failure to reach any host counts (DNS errors and refused connections);
a host that answers, whatever it answers, closes the circuit. State lives in
the process: a restart forgets it, and costs at most one more attempt.
"""

import time
from dataclasses import dataclass

from .status import DeliveryFailed


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0


class Breakers:
    def __init__(self, threshold, cooldown, clock=time.monotonic):
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.states = {}

    def check(self, destination):
        state = self.states.get(destination)
        if state is None or not state.open_until:
            return
        left = state.open_until - self.clock()
        if left > 0:
            raise DeliveryFailed("4.4.1", f"{destination}: not tried, its hosts were "
                                          f"unreachable {state.failures} times in a "
                                          f"row (tried again in {left:.0f} s)")
        state.open_until = 0.0        # half open: this attempt decides

    def failed(self, destination):
        if self.threshold <= 0:
            return
        state = self.states.setdefault(destination, _State())
        state.failures += 1
        if state.failures >= self.threshold:
            state.open_until = self.clock() + self.cooldown

    def reached(self, destination):
        self.states.pop(destination, None)
