"""smtp.ratelimit: submitd's messages per sender per hour, a sliding window."""

from mailsuite.smtp import ratelimit
from mailsuite.smtp.ratelimit import RateLimit


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_limit_holds_within_the_hour_and_lifts_as_messages_age():
    clock = Clock()
    limit = RateLimit(3, clock)
    for _ in range(3):
        assert limit.allows("bob")
        limit.count("bob")
        clock.now += 600
    assert not limit.allows("bob")
    assert limit.allows("amy")
    clock.now = 1000.0 + 3600       # the first message is an hour old
    assert limit.allows("bob")
    limit.count("bob")
    assert not limit.allows("bob")


def test_zero_is_no_limit():
    limit = RateLimit(0, Clock())
    for _ in range(1000):
        limit.count("bob")
    assert limit.allows("bob")
    assert not limit._sent


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 10)
    clock = Clock()
    limit = RateLimit(5, clock)
    for i in range(50):
        for _ in range(20):
            limit.count(f"user{i}")
    assert len(limit._sent) == 10
    assert all(len(times) == 5 for times in limit._sent.values())
    assert not limit.allows("user49") and limit.allows("user0")
    clock.now += 3601
    assert limit.allows("user49")
    assert "user49" not in limit._sent
