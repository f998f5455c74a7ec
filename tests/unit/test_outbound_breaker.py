"""outbound.breaker with a clock of the test's own."""

import pytest

from mailsuite.outbound.breaker import Breakers
from mailsuite.outbound.status import DeliveryFailed


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_opens_after_the_threshold_and_half_opens_after_the_cooldown():
    clock = Clock()
    breakers = Breakers(threshold=2, cooldown=60, clock=clock)
    breakers.failed("dead.test")
    breakers.check("dead.test")                    # one failure: still closed
    breakers.failed("dead.test")
    with pytest.raises(DeliveryFailed) as caught:
        breakers.check("dead.test")
    assert caught.value.status == "4.4.1" and not caught.value.permanent
    breakers.check("other.test")                   # per destination
    clock.now += 61
    breakers.check("dead.test")                    # half open: one attempt
    breakers.failed("dead.test")                   # fails: open again at once
    with pytest.raises(DeliveryFailed):
        breakers.check("dead.test")


def test_a_reached_host_closes_it():
    clock = Clock()
    breakers = Breakers(threshold=2, cooldown=60, clock=clock)
    breakers.failed("flaky.test")
    breakers.failed("flaky.test")
    clock.now += 61
    breakers.check("flaky.test")
    breakers.reached("flaky.test")
    breakers.failed("flaky.test")                  # counting starts again
    breakers.check("flaky.test")
    breakers.failed("flaky.test")
    with pytest.raises(DeliveryFailed):
        breakers.check("flaky.test")


def test_zero_turns_it_off():
    breakers = Breakers(threshold=0, cooldown=60)
    for _ in range(10):
        breakers.failed("dead.test")
    breakers.check("dead.test")
