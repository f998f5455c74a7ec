"""Accounts: domains, users, aliases and catch-alls, in an LMDB environment.

Written by mailctl; read by every daemon. LMDB gives lock-free readers across
processes, and each call opens a fresh read transaction, so a change made by mailctl
is seen by a running daemon at its next call.

Contract (every daemon relies on exactly this):

    class AccountError(Exception)          # message is the user-facing text
    def split(address) -> (localpart, domain)
        # lowercased; raises AccountError("invalid address: ...") on bad syntax
    def normalize(address) -> str
        # "local@domain" lowercased; raises AccountError as split() does
    def normalize_domain(name) -> str
        # lowercased; raises AccountError("invalid domain: ...") on bad syntax
    class Accounts:
        def __init__(self, state_dir)      # env at <state_dir>/accounts, created if missing
            # the environment is shared within a process (core.lmdbenv)
        def close(self)                    # also a context manager
        # domains
        def add_domain(self, name); remove_domain(self, name); domains(self) -> list[str]
        def is_local_domain(self, name) -> bool
        # users (address is "local@domain"; the domain must exist)
        def add_user(self, address, password, quota=0)
        def remove_user(self, address); set_password(self, address, password)
        def set_enabled(self, address, enabled: bool)
        def set_quota(self, address, quota: int)    # bytes; 0 for none
        def quota(self, address) -> int    # the storage limit in bytes; 0 for none
            # (or for nobody): what imapd, deliverd and smtpd enforce (RFC 9208)
        def get_user(self, address) -> dict | None   # {"address","enabled","quota","created"}
        def users(self, domain=None) -> list[dict]
        def verify(self, address, password) -> bool
            # argon2id; takes the same time whether or not the user exists;
            # False for a disabled user; never raises. CPU-bound (tenths of a second):
            # daemons call it in a thread.
        def credential_stamp(self, address) -> bytes | None
            # a digest of the stored hash; None for a missing or disabled user.
            # Changes with every password change: core.login's cache checks it.
        # aliases ("@domain" as source is a catch-all)
        def add_alias(self, source, targets: list[str]); remove_alias(self, source)
        def aliases(self, domain=None) -> list[tuple[str, list[str]]]
        def resolve(self, address, catch_all=True) -> list[str]
            # final recipients: the user itself, else its alias targets (recursively,
            # depth-limited), else the domain's catch-all (unless catch_all is
            # false); postmaster@ a local domain that nobody takes goes to the
            # oldest user; [] when nobody takes it
        def mailbox_dir(self, address) -> Path   # <state_dir>/mail/<domain>/<local>
        def may_send_as(self, user, address) -> bool
            # submitd's sender check: the user's own address, or an alias (not a
            # catch-all) whose final recipients include the user

Failure policy: every refusal (bad syntax, unknown domain, duplicate, missing entry,
unopenable environment) is an AccountError whose message is shown as is. Lookups for
clients (verify, resolve, get_user, is_local_domain) never raise on bad input.

Records are JSON. A user and an alias never share an address: resolve() would always
prefer the user, so such an alias could never take effect. A disabled user cannot log
in but still receives mail; remove the user to stop that.
"""

import hashlib
import json
import os
import re
import time
from pathlib import Path

import argon2
import lmdb

from . import lmdbenv

MAP_SIZE = 1 << 30          # address space only; the file grows as it is used
MAX_DEPTH = 10              # alias expansion depth, as sendmail's MAXRCRSN
POSTMASTER = "postmaster"

# RFC 9106 section 4, second recommended option (for memory-constrained
# environments). Fixed here rather than left to the library's default, which changes
# between Debian releases, so that every hash and the dummy one cost the same.
_HASHER = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4,
                                hash_len=32, salt_len=16, type=argon2.Type.ID)
_MAX_PASSWORD = 1024
_dummy_hash = None


class AccountError(Exception):
    """The message is the user-facing text of the refusal."""


# Address syntax. Local parts are a dot-atom (RFC 5322 3.2.3) over a subset of atext:
# "/" is left out because the local part names a directory, "%" and "!" because they
# are old source-routing syntax (RFC 1123 5.2.16 and UUCP bang paths) that invites
# relay tricks. Quoted local parts and non-ASCII (RFC 6531) are not accepted for
# accounts. Both parts are lowercased: RFC 5321 2.4 lets a server treat local parts
# case-insensitively, and users expect it.
_ATOM = r"[a-z0-9#$&'*+=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
# RFC 1035 2.3.1 as relaxed by RFC 1123 2.1: letters, digits, inner hyphens.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def normalize_domain(name):
    """The domain lowercased; AccountError if it is not a host name."""
    if not isinstance(name, str):
        raise AccountError(f"invalid domain: {_shown(name)}")
    domain = name.lower()
    labels = domain.split(".")
    # RFC 5321 4.5.3.1.2: a domain is at most 255 octets; RFC 1035 2.3.4: a label
    # at most 63. A numeric last label would make it look like an IP address.
    if (not domain.isascii() or len(domain) > 255
            or not all(_LABEL.fullmatch(label) and len(label) <= 63
                       for label in labels)
            or labels[-1].isdigit()):
        raise AccountError(f"invalid domain: {_shown(name)}")
    return domain


def _shown(value):
    """`value` fit for a message: control characters must not reach a terminal."""
    printable = isinstance(value, str) and value and value.isprintable()
    return value if printable else repr(value)


def split(address):
    """(localpart, domain), lowercased; AccountError on bad syntax."""
    if not isinstance(address, str) or "@" not in address:
        raise AccountError(f"invalid address: {_shown(address)}")
    local, domain = address.lower().rsplit("@", 1)
    # RFC 5321 4.5.3.1.1: a local part is at most 64 octets; 4.5.3.1.3: a path,
    # with its angle brackets, at most 256, so an address at most 254.
    if (not local.isascii() or len(local) > 64 or len(address) > 254
            or not _LOCAL.fullmatch(local)):
        raise AccountError(f"invalid address: {_shown(address)}")
    try:
        domain = normalize_domain(domain)
    except AccountError:
        raise AccountError(f"invalid address: {_shown(address)}") from None
    return local, domain


def normalize(address):
    """The address as stored: "local@domain", lowercased."""
    return "@".join(split(address))


def _dummy():
    """A hash that matches no password, to spend the same time on unknown users."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _HASHER.hash(os.urandom(32).hex())
    return _dummy_hash


def _hash_password(password):
    if not isinstance(password, str) or not 0 < len(password) <= _MAX_PASSWORD:
        raise AccountError(f"a password has 1 to {_MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def _source(source):
    """An alias source: an address, or "@domain" for the domain's catch-all."""
    if isinstance(source, str) and source.startswith("@"):
        return "@" + normalize_domain(source[1:])
    return normalize(source)


def _domain_of(key):
    return key.rpartition("@")[2]


class Accounts(lmdbenv.Handle):
    def __init__(self, state_dir):
        self.state_dir = Path(state_dir)
        path = self.state_dir / "accounts"
        try:
            self._shared = lmdbenv.acquire(path, ("domains", "users", "aliases"),
                                           map_size=MAP_SIZE)
        except (OSError, lmdb.Error) as exc:
            raise AccountError(f"cannot open accounts database {path}: {exc}") from None
        _give_to_owner(path, self.state_dir)
        self.env = self._shared.env
        self._domains = self._shared.db["domains"]
        self._users = self._shared.db["users"]
        self._aliases = self._shared.db["aliases"]


    # storage helpers: one JSON record per key

    def _get(self, txn, db, key):
        raw = txn.get(key.encode(), db=db)
        return None if raw is None else json.loads(raw)

    def _put(self, txn, db, key, record):
        txn.put(key.encode(), json.dumps(record, sort_keys=True).encode(), db=db)

    def _items(self, txn, db):
        return ((key.decode(), json.loads(raw)) for key, raw in txn.cursor(db=db))

    def _require_domain(self, txn, domain):
        if txn.get(domain.encode(), db=self._domains) is None:
            raise AccountError(f"unknown domain: {domain}")

    # domains

    def add_domain(self, name):
        name = normalize_domain(name)
        with self.env.begin(write=True) as txn:
            if txn.get(name.encode(), db=self._domains) is not None:
                raise AccountError(f"domain {name} already exists")
            self._put(txn, self._domains, name, {"created": int(time.time())})

    def remove_domain(self, name):
        name = normalize_domain(name)
        with self.env.begin(write=True) as txn:
            self._require_domain(txn, name)
            # Refuse rather than cascade: removing a domain must never silently
            # drop mailboxes or forwarding that someone relies on.
            for db, what in ((self._users, "user(s)"), (self._aliases, "alias(es)")):
                count = sum(1 for key, _ in self._items(txn, db)
                            if _domain_of(key) == name)
                if count:
                    raise AccountError(f"domain {name} still has {count} {what}")
            txn.delete(name.encode(), db=self._domains)

    def domains(self):
        with self.env.begin() as txn:
            return [key for key, _ in self._items(txn, self._domains)]

    def is_local_domain(self, name):
        try:
            name = normalize_domain(name)
        except AccountError:
            return False
        with self.env.begin() as txn:
            return txn.get(name.encode(), db=self._domains) is not None

    # users

    def add_user(self, address, password, quota=0):
        address = normalize(address)
        _check_quota(quota)
        hashed = _hash_password(password)
        with self.env.begin(write=True) as txn:
            self._require_domain(txn, _domain_of(address))
            if self._get(txn, self._users, address) is not None:
                raise AccountError(f"user {address} already exists")
            if self._get(txn, self._aliases, address) is not None:
                raise AccountError(f"{address} is an alias; remove the alias first")
            self._put(txn, self._users, address, {
                "hash": hashed, "enabled": True, "quota": quota,
                "created": int(time.time()), "created_ns": time.time_ns()})

    def remove_user(self, address):
        address = normalize(address)
        with self.env.begin(write=True) as txn:
            if not txn.delete(address.encode(), db=self._users):
                raise AccountError(f"no such user: {address}")

    def set_password(self, address, password):
        hashed = _hash_password(password)
        self._update_user(address, hash=hashed)

    def set_enabled(self, address, enabled):
        self._update_user(address, enabled=bool(enabled))

    def set_quota(self, address, quota):
        _check_quota(quota)
        self._update_user(address, quota=quota)

    def quota(self, address):
        _, record = self._lookup(address)
        return record["quota"] if record else 0

    def _update_user(self, address, **changes):
        address = normalize(address)
        with self.env.begin(write=True) as txn:
            record = self._get(txn, self._users, address)
            if record is None:
                raise AccountError(f"no such user: {address}")
            record.update(changes)
            self._put(txn, self._users, address, record)

    def get_user(self, address):
        address, record = self._lookup(address)
        return _public(address, record) if record else None

    def _lookup(self, address):
        """(address, user record), (address, None) for nobody, (None, None) for
        bad syntax: lookups for clients answer "no" rather than raise."""
        try:
            address = normalize(address)
        except AccountError:
            return None, None
        with self.env.begin() as txn:
            return address, self._get(txn, self._users, address)

    def users(self, domain=None):
        domain = None if domain is None else normalize_domain(domain)
        with self.env.begin() as txn:
            found = [_public(key, record) for key, record in self._items(txn, self._users)
                     if domain is None or _domain_of(key) == domain]
        return sorted(found, key=lambda user: _order(user["address"]))

    def verify(self, address, password):
        _, record = self._lookup(address)
        record = record if record and record["enabled"] else None
        hashed = record["hash"] if record else _dummy()
        if not isinstance(password, (str, bytes)) or len(password) > _MAX_PASSWORD:
            password = ""
        try:
            # Missing and disabled users are checked against the dummy hash: the
            # answer takes the same time and reveals nothing.
            ok = _HASHER.verify(hashed, password)
        except (argon2.exceptions.VerificationError,
                argon2.exceptions.InvalidHash, ValueError, TypeError):
            ok = False
        return bool(ok and record)

    def credential_stamp(self, address):
        """A digest of the user's password hash (a new salt each time, so it
        changes even when a password is set to itself), or None for a missing or
        disabled user: what a cache of verified logins compares, one LMDB read."""
        _, record = self._lookup(address)
        if not record or not record["enabled"]:
            return None
        return hashlib.sha256(record["hash"].encode()).digest()

    # aliases

    def add_alias(self, source, targets):
        source = _source(source)
        targets = _targets(targets)
        if source in targets:
            raise AccountError(f"alias {source} cannot point to itself")
        with self.env.begin(write=True) as txn:
            self._require_domain(txn, _domain_of(source))
            if self._get(txn, self._aliases, source) is not None:
                raise AccountError(f"alias {source} already exists")
            if self._get(txn, self._users, source) is not None:
                raise AccountError(f"{source} is a user; an alias would never apply")
            self._put(txn, self._aliases, source, {"targets": targets})

    def remove_alias(self, source):
        source = _source(source)
        with self.env.begin(write=True) as txn:
            if not txn.delete(source.encode(), db=self._aliases):
                raise AccountError(f"no such alias: {source}")

    def aliases(self, domain=None):
        domain = None if domain is None else normalize_domain(domain)
        with self.env.begin() as txn:
            found = [(key, record["targets"])
                     for key, record in self._items(txn, self._aliases)
                     if domain is None or _domain_of(key) == domain]
        return sorted(found, key=lambda item: _order(item[0]))

    def resolve(self, address, catch_all=True):
        try:
            address = normalize(address)
        except AccountError:
            return []
        out = []
        with self.env.begin() as txn:
            self._expand(txn, address, 0, set(), out, catch_all)
            # RFC 5321 4.5.1: every domain we take mail for has a postmaster. With
            # no user, alias or catch-all of that name, the first administrator
            # (the oldest user of the server) receives it.
            if (not out and address.startswith(POSTMASTER + "@")
                    and txn.get(_domain_of(address).encode(), db=self._domains)):
                out = self._first_admin(txn)
        return list(dict.fromkeys(out))

    def _first_admin(self, txn):
        # Users made before created_ns existed count by their second of creation.
        users = [(record.get("created_ns", record["created"] * 10**9), key)
                 for key, record in self._items(txn, self._users)]
        return [min(users)[1]] if users else []

    def _expand(self, txn, address, depth, seen, out, catch_all=True):
        """Append the final recipients of `address` to `out`; `seen` breaks loops.
        Without `catch_all`, the address itself is not taken by its domain's
        catch-all (its alias targets still are)."""
        if address in seen:
            return
        seen.add(address)
        domain = _domain_of(address)
        if txn.get(domain.encode(), db=self._domains) is None:
            # Not ours: an alias target is forwarded as is; a recipient asked
            # about directly is nobody we take mail for.
            if depth:
                out.append(address)
            return
        # The user, its alias and the catch-all are all read, whichever answers:
        # a known and an unknown address cost the same reads.
        user = txn.get(address.encode(), db=self._users)
        alias = self._get(txn, self._aliases, address)
        wildcard = self._get(txn, self._aliases, "@" + domain)
        if user is not None:
            out.append(address)
            return
        alias = alias or (wildcard if catch_all else None)
        if alias is None or depth >= MAX_DEPTH:
            return
        for target in alias["targets"]:
            self._expand(txn, target, depth + 1, seen, out)

    def mailbox_dir(self, address):
        local, domain = split(address)
        return self.state_dir / "mail" / domain / local

    def may_send_as(self, user, address):
        """Whether `user` owns `address`: it is theirs, or an alias of its own
        (a catch-all gives its user everyone's mail, not everyone's name) that
        leads to them."""
        try:
            user, address = normalize(user), normalize(address)
        except AccountError:
            return False
        if user == address:
            return True
        out = []
        with self.env.begin() as txn:
            if self._get(txn, self._aliases, address) is None:
                return False
            self._expand(txn, address, 0, set(), out)
        return user in out


def _public(address, record):
    return {"address": address, "enabled": record["enabled"],
            "quota": record["quota"], "created": record["created"]}


def _check_quota(quota):
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise AccountError(f"invalid quota: {quota!r} (bytes, 0 for none)")


def _order(address):
    """Sort by domain, then local part; a catch-all ("@d") first in its domain."""
    local, _, domain = address.rpartition("@")
    return (domain, local)


def _targets(targets):
    if isinstance(targets, str) or not targets:
        raise AccountError("an alias needs at least one target address")
    return list(dict.fromkeys(normalize(target) for target in targets))


def _give_to_owner(path, state_dir):
    """When root (mailctl) creates the environment, hand its files to the owner of
    the state dir, so that the unprivileged daemons can open it (they need write
    access to lock.mdb even to read)."""
    if os.geteuid() != 0:
        return
    owner = state_dir.stat()
    for item in (path, path / "data.mdb", path / "lock.mdb"):
        os.chown(item, owner.st_uid, owner.st_gid)
