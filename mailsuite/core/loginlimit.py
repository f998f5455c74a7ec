"""The failed-login limiter of core.login: per client address and per account.

Failures are counted in a sliding window (`login.failure_window` seconds): a client
address (IPv4, or an IPv6 /64, what one customer is usually given) may fail
`address_failures` times, an account `account_failures` times from all addresses
together. Attempts still being checked count too, so guesses sent at once on many
connections cannot all slip in before the first failure is known. Past a limit,
`refusal()` names it and the caller refuses without checking the password.

The account limit would let anyone lock a user out by guessing wrong on purpose;
so an address that has logged in to an account successfully (within TRUSTED_FOR)
is exempt from that account's limit, though not from its own address limit.

The delay before a failure is answered doubles with each failure of the address in
the window, from `failure_delay` up to `failure_delay_max`, as Dovecot's auth
penalty does. The tables are bounded (the oldest entries go first), so a flood of
names or addresses costs bounded memory.
"""

import contextlib
import ipaddress
import time
from collections import Counter, OrderedDict, deque

from . import accounts

MAX_TRACKED = 50000         # addresses and accounts with failures in the window
MAX_TRUSTED = 50000         # (account, address) pairs that have logged in
TRUSTED_FOR = 30 * 86400    # seconds an address stays exempt from an account limit
DELAY_STEPS = 32            # failures counted for the delay when a limit is off


def address_group(ip):
    """The unit the address limit counts: the IPv4 address, or the IPv6 /64
    (an IPv4-mapped IPv6 address is its IPv4 address); "-" for none."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "-"
    if addr.version == 6 and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr.exploded}/64", strict=False))
    return str(addr)


def account_key(user):
    """The unit the account limit counts: the normalized address. A name that is
    no address counts too, bounded, so that a refusal never tells which accounts
    exist."""
    try:
        return accounts.normalize(user)
    except accounts.AccountError:
        return "?" + user[:256].lower()


class Limiter:
    def __init__(self, settings, clock=time.monotonic):
        self.window = settings.failure_window
        self.limits = {"address": settings.address_failures,
                       "account": settings.account_failures}
        self.delay = settings.failure_delay
        self.delay_max = settings.failure_delay_max
        self.clock = clock
        self._failures = OrderedDict()      # (kind, key) -> deque of times
        self._pending = Counter()           # (kind, key) -> attempts being checked
        self._trusted = OrderedDict()       # (account, address group) -> time

    def refusal(self, group, account):
        """"address" or "account" when that limit is reached, else None."""
        if self._over("address", group):
            return "address"
        if not self._trusts(account, group) and self._over("account", account):
            return "account"
        return None

    @contextlib.contextmanager
    def pending(self, group, account):
        """Count an attempt against the limits while its password is checked."""
        keys = (("address", group), ("account", account))
        self._pending.update(keys)
        try:
            yield
        finally:
            self._pending.subtract(keys)
            for key in keys:
                if self._pending[key] <= 0:
                    del self._pending[key]

    def failed(self, group, account):
        """Record a failure; returns the seconds to wait before answering it."""
        self._record("account", account)
        count = self._record("address", group)
        exponent = min(count - 1, 64)
        return min(self.delay * 2 ** exponent, self.delay_max)

    def succeeded(self, group, account):
        """The address logged in to the account: exempt it from the account limit."""
        self._trusted.pop((account, group), None)
        self._trusted[account, group] = self.clock()
        while len(self._trusted) > MAX_TRUSTED:
            self._trusted.popitem(last=False)

    def _trusts(self, account, group):
        since = self._trusted.get((account, group))
        if since is None:
            return False
        if self.clock() - since >= TRUSTED_FOR:
            del self._trusted[account, group]
            return False
        return True

    def _over(self, kind, key):
        limit = self.limits[kind]
        if limit <= 0:
            return False
        return len(self._recent((kind, key))) + self._pending[kind, key] >= limit

    def _recent(self, key):
        """The failure times of `key` within the window; older ones are dropped."""
        times = self._failures.get(key)
        if times is None:
            return ()
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def _record(self, kind, key):
        """Add a failure now; returns the failures of `key` in the window."""
        times = self._recent((kind, key))
        if not times:
            # Enough entries to decide the limit, and the delay when it is off.
            times = deque(maxlen=max(self.limits[kind], DELAY_STEPS))
        self._failures.pop((kind, key), None)
        self._failures[kind, key] = times
        times.append(self.clock())
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)
        return len(times)
