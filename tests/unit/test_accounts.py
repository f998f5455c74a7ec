"""core.accounts: domains, users, aliases, catch-alls, resolve() and verify()."""

import argon2
import pytest

from mailsuite.core import accounts
from mailsuite.core.accounts import AccountError, Accounts


class CountingHasher(argon2.PasswordHasher):
    """A cheap hasher that counts verify() calls: a login must hash every time."""

    def __init__(self):
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash, password):
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch):
    # The production parameters cost a fifth of a second a hash; the behaviour
    # under test does not depend on them (test_hash_parameters checks them).
    counting = CountingHasher()
    monkeypatch.setattr(accounts, "_HASHER", counting)
    monkeypatch.setattr(accounts, "_dummy_hash", None)
    return counting


@pytest.fixture
def acc(tmp_path, hasher):
    with Accounts(tmp_path / "state") as opened:
        opened.add_domain("example.test")
        yield opened


# addresses

@pytest.mark.parametrize("address, expected", [
    ("bob@example.test", ("bob", "example.test")),
    ("Bob.Smith@Example.TEST", ("bob.smith", "example.test")),
    ("a+tag@mail.example.test", ("a+tag", "mail.example.test")),
    ("o'hara_x-y=z@ex-ample.test", ("o'hara_x-y=z", "ex-ample.test")),
    ("x@localhost", ("x", "localhost")),
    ("a" * 64 + "@example.test", ("a" * 64, "example.test")),
])
def test_split_accepts(address, expected):
    assert accounts.split(address) == expected


@pytest.mark.parametrize("address", [
    "", "bob", "@example.test", "bob@", "bob@@example.test", "bob@exa mple.test",
    "bob smith@example.test", ".bob@example.test", "bob.@example.test",
    "bo..b@example.test", "bob@example..test", "bob@-example.test",
    "bob@example-.test", "bob@example.test.", "bob@1.2.3.4", "bob@[127.0.0.1]",
    '"bob"@example.test', "a/b@example.test", "a%b@example.test", "a!b@example.test",
    "..@example.test", "bob\n@example.test", "bob@example.test\r\n", "bøb@example.test",
    "bob@exämple.test", "bob@under_score.test",
    "a" * 65 + "@example.test",                        # RFC 5321 4.5.3.1.1
    "bob@" + "a" * 64 + ".test",                       # RFC 1035 2.3.4
    "a" * 64 + "@" + ".".join(["b" * 48] * 4) + ".test",   # RFC 5321 4.5.3.1.3
    "b@" + ".".join(["a" * 60] * 5) + ".test",           # RFC 5321 4.5.3.1.2
    None, 42, b"bob@example.test",
])
def test_split_refuses(address):
    with pytest.raises(AccountError, match="invalid address"):
        accounts.split(address)


def test_invalid_address_message_escapes_control_characters():
    with pytest.raises(AccountError) as info:
        accounts.split("bob\x1b[31m@example.test")
    assert "\x1b" not in str(info.value)


# domains

def test_domains(acc):
    acc.add_domain("Other.TEST")
    assert acc.domains() == ["example.test", "other.test"]
    assert acc.is_local_domain("OTHER.test")
    assert not acc.is_local_domain("nowhere.test")
    assert not acc.is_local_domain("not a domain")
    assert not acc.is_local_domain(None)


def test_duplicate_domain(acc):
    with pytest.raises(AccountError, match="domain example.test already exists"):
        acc.add_domain("EXAMPLE.test")


@pytest.mark.parametrize("name", ["", "bad domain", "a..b", "x.123", "-x.test", None])
def test_invalid_domain(acc, name):
    with pytest.raises(AccountError, match="invalid domain"):
        acc.add_domain(name)


def test_remove_domain(acc):
    acc.add_domain("other.test")
    acc.remove_domain("other.test")
    assert acc.domains() == ["example.test"]
    with pytest.raises(AccountError, match="unknown domain: other.test"):
        acc.remove_domain("other.test")


def test_remove_domain_with_users_is_refused(acc):
    acc.add_user("bob@example.test", "pw")
    with pytest.raises(AccountError, match="still has 1 user"):
        acc.remove_domain("example.test")
    acc.remove_user("bob@example.test")
    acc.add_alias("@example.test", ["x@remote.test"])
    with pytest.raises(AccountError, match="still has 1 alias"):
        acc.remove_domain("example.test")
    acc.remove_alias("@example.test")
    acc.remove_domain("example.test")
    assert acc.domains() == []


# users

def test_add_and_get_user(acc):
    acc.add_user("Bob@Example.test", "pw", quota=1000)
    user = acc.get_user("bob@example.test")
    assert user["address"] == "bob@example.test"
    assert user["enabled"] is True
    assert user["quota"] == 1000
    assert isinstance(user["created"], int)
    assert "hash" not in user
    assert acc.get_user("nobody@example.test") is None
    assert acc.get_user("not an address") is None


def test_users_are_listed_by_domain(acc):
    acc.add_domain("a.test")
    acc.add_user("zed@example.test", "pw")
    acc.add_user("amy@example.test", "pw")
    acc.add_user("bob@a.test", "pw")
    assert [u["address"] for u in acc.users()] == [
        "bob@a.test", "amy@example.test", "zed@example.test"]
    assert [u["address"] for u in acc.users("EXAMPLE.test")] == [
        "amy@example.test", "zed@example.test"]
    assert acc.users("empty.test") == []


def test_duplicate_user(acc):
    acc.add_user("bob@example.test", "pw")
    with pytest.raises(AccountError, match="user bob@example.test already exists"):
        acc.add_user("BOB@example.test", "other")


def test_user_needs_known_domain(acc):
    with pytest.raises(AccountError, match="unknown domain: nowhere.test"):
        acc.add_user("bob@nowhere.test", "pw")


@pytest.mark.parametrize("password", ["", None, "x" * 1025])
def test_bad_password_is_refused(acc, password):
    with pytest.raises(AccountError, match="password"):
        acc.add_user("bob@example.test", password)
    assert acc.get_user("bob@example.test") is None


@pytest.mark.parametrize("quota", [-1, "10", 1.5, True])
def test_bad_quota_is_refused(acc, quota):
    with pytest.raises(AccountError, match="invalid quota"):
        acc.add_user("bob@example.test", "pw", quota=quota)


def test_set_quota(acc):
    acc.add_user("bob@example.test", "pw")
    assert acc.quota("bob@example.test") == 0
    acc.set_quota("Bob@example.test", 5000)
    assert acc.quota("bob@example.test") == 5000
    assert acc.get_user("bob@example.test")["quota"] == 5000
    assert acc.verify("bob@example.test", "pw")
    with pytest.raises(AccountError, match="invalid quota"):
        acc.set_quota("bob@example.test", -1)
    with pytest.raises(AccountError, match="no such user"):
        acc.set_quota("nobody@example.test", 1)
    # Nobody, or not an address: no limit to enforce.
    assert acc.quota("nobody@example.test") == acc.quota("not an address") == 0


def test_remove_user(acc):
    acc.add_user("bob@example.test", "pw")
    acc.remove_user("BOB@example.test")
    assert acc.get_user("bob@example.test") is None
    with pytest.raises(AccountError, match="no such user: bob@example.test"):
        acc.remove_user("bob@example.test")


def test_missing_user_changes_are_refused(acc):
    with pytest.raises(AccountError, match="no such user"):
        acc.set_password("bob@example.test", "pw")
    with pytest.raises(AccountError, match="no such user"):
        acc.set_enabled("bob@example.test", False)


def test_mailbox_dir(acc, tmp_path):
    assert acc.mailbox_dir("Bob@Example.test") == (
        tmp_path / "state" / "mail" / "example.test" / "bob")
    with pytest.raises(AccountError):
        acc.mailbox_dir("../x@example.test")


def test_changes_are_seen_by_a_second_reader(acc, tmp_path):
    # Another process holds its own environment; a fresh read transaction per
    # call is what lets it see mailctl's change without reopening.
    import subprocess
    import sys
    from harness import ROOT
    code = ("import sys; from mailsuite.core.accounts import Accounts; "
            "a = Accounts(sys.argv[1]); print(a.get_user('bob@example.test'))")
    acc.add_user("bob@example.test", "pw")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "state")],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "'address': 'bob@example.test'" in out


# verify

def test_verify(acc, hasher):
    acc.add_user("bob@example.test", "correct horse")
    assert acc.verify("bob@example.test", "correct horse")
    assert acc.verify("BOB@Example.Test", "correct horse")
    assert acc.verify("bob@example.test", b"correct horse")
    assert not acc.verify("bob@example.test", "Correct horse")
    assert not acc.verify("bob@example.test", "")
    assert hasher.verified == 5


def test_verify_after_password_change(acc):
    acc.add_user("bob@example.test", "old")
    acc.set_password("bob@example.test", "new")
    assert acc.verify("bob@example.test", "new")
    assert not acc.verify("bob@example.test", "old")


def test_verify_disabled_user(acc, hasher):
    acc.add_user("bob@example.test", "pw")
    acc.set_enabled("bob@example.test", False)
    assert acc.get_user("bob@example.test")["enabled"] is False
    assert not acc.verify("bob@example.test", "pw")
    assert hasher.verified == 1
    acc.set_enabled("bob@example.test", True)
    assert acc.verify("bob@example.test", "pw")


@pytest.mark.parametrize("address, password", [
    ("nobody@example.test", "pw"),
    ("bob@nowhere.test", "pw"),
    ("not an address", "pw"),
    ("", ""),
    (None, None),
    ("bob@example.test", None),
    ("bob@example.test", 12345),
    ("bob@example.test", "x" * 100000),
    ("bob@example.test\x00", "pw"),
])
def test_verify_never_raises_and_always_hashes(acc, hasher, address, password):
    acc.add_user("bob@example.test", "pw")
    assert acc.verify(address, password) is False
    # Same work as for a real user: the time reveals nothing about existence.
    assert hasher.verified == 1


def test_credential_stamp_changes_with_the_password_and_the_enabled_flag(acc):
    acc.add_user("bob@example.test", "pw")
    stamp = acc.credential_stamp("Bob@example.test")
    assert len(stamp) == 32 and stamp == acc.credential_stamp("bob@example.test")
    acc.set_password("bob@example.test", "pw")
    assert acc.credential_stamp("bob@example.test") not in (stamp, None)
    acc.set_enabled("bob@example.test", False)
    assert acc.credential_stamp("bob@example.test") is None
    assert acc.credential_stamp("nobody@example.test") is None
    assert acc.credential_stamp("not an address") is None


def test_hash_parameters(tmp_path):
    # The real hasher: argon2id with RFC 9106's second recommended option.
    with Accounts(tmp_path / "state") as acc:
        acc.add_domain("example.test")
        acc.add_user("bob@example.test", "pw")
        raw = acc.env.begin(db=acc._users).get(b"bob@example.test")
        assert b"$argon2id$v=19$m=65536,t=3,p=4$" in raw
        assert acc.verify("bob@example.test", "pw")
        assert not acc.verify("nobody@example.test", "pw")


# aliases

def test_aliases(acc):
    acc.add_domain("other.test")
    acc.add_alias("Info@Example.test", ["bob@example.test", "X@Remote.test"])
    acc.add_alias("@other.test", ["bob@example.test"])
    assert acc.aliases() == [
        ("info@example.test", ["bob@example.test", "x@remote.test"]),
        ("@other.test", ["bob@example.test"])]
    assert acc.aliases("other.test") == [("@other.test", ["bob@example.test"])]
    acc.remove_alias("INFO@example.test")
    acc.remove_alias("@OTHER.test")
    assert acc.aliases() == []


def test_alias_targets_are_deduplicated(acc):
    acc.add_alias("info@example.test", ["a@x.test", "A@X.test", "b@x.test"])
    assert acc.aliases() == [("info@example.test", ["a@x.test", "b@x.test"])]


@pytest.mark.parametrize("source, targets, message", [
    ("info@nowhere.test", ["bob@example.test"], "unknown domain: nowhere.test"),
    ("@nowhere.test", ["bob@example.test"], "unknown domain: nowhere.test"),
    ("bad source", ["bob@example.test"], "invalid address"),
    ("@bad domain", ["bob@example.test"], "invalid domain"),
    ("info@example.test", [], "at least one target"),
    ("info@example.test", "bob@example.test", "at least one target"),
    ("info@example.test", ["not an address"], "invalid address"),
    ("info@example.test", ["@example.test"], "invalid address"),
    ("info@example.test", ["info@example.test"], "cannot point to itself"),
])
def test_bad_alias(acc, source, targets, message):
    with pytest.raises(AccountError, match=message):
        acc.add_alias(source, targets)
    assert acc.aliases() == []


def test_duplicate_alias(acc):
    acc.add_alias("info@example.test", ["a@x.test"])
    with pytest.raises(AccountError, match="alias info@example.test already exists"):
        acc.add_alias("info@example.test", ["b@x.test"])


def test_user_and_alias_never_share_an_address(acc):
    acc.add_user("bob@example.test", "pw")
    with pytest.raises(AccountError, match="is a user"):
        acc.add_alias("bob@example.test", ["x@remote.test"])
    acc.add_alias("info@example.test", ["bob@example.test"])
    with pytest.raises(AccountError, match="is an alias"):
        acc.add_user("info@example.test", "pw")


def test_remove_missing_alias(acc):
    with pytest.raises(AccountError, match="no such alias: info@example.test"):
        acc.remove_alias("info@example.test")
    with pytest.raises(AccountError, match="no such alias: @example.test"):
        acc.remove_alias("@example.test")


# resolve

def test_resolve_user(acc):
    acc.add_user("bob@example.test", "pw")
    assert acc.resolve("BOB@example.test") == ["bob@example.test"]
    assert acc.resolve("nobody@example.test") == []
    assert acc.resolve("bob@remote.test") == []
    assert acc.resolve("not an address") == []
    assert acc.resolve(None) == []


def test_resolve_disabled_user_still_receives(acc):
    acc.add_user("bob@example.test", "pw")
    acc.set_enabled("bob@example.test", False)
    assert acc.resolve("bob@example.test") == ["bob@example.test"]


def test_resolve_alias_recursively(acc):
    acc.add_user("bob@example.test", "pw")
    acc.add_user("amy@example.test", "pw")
    acc.add_alias("team@example.test", ["bob@example.test", "sales@example.test"])
    acc.add_alias("sales@example.test", ["amy@example.test", "Boss@Remote.test",
                                         "bob@example.test"])
    assert acc.resolve("team@example.test") == [
        "bob@example.test", "amy@example.test", "boss@remote.test"]


def test_resolve_catch_all(acc):
    acc.add_user("bob@example.test", "pw")
    acc.add_user("amy@example.test", "pw")
    acc.add_alias("@example.test", ["bob@example.test"])
    acc.add_alias("info@example.test", ["amy@example.test"])
    assert acc.resolve("anything@example.test") == ["bob@example.test"]
    # A user and an exact alias come before the catch-all.
    assert acc.resolve("amy@example.test") == ["amy@example.test"]
    assert acc.resolve("info@example.test") == ["amy@example.test"]


def test_resolve_catch_all_to_missing_local_address(acc):
    # The catch-all's own target falls back to the catch-all: a loop, not a hang.
    acc.add_alias("@example.test", ["ghost@example.test"])
    assert acc.resolve("x@example.test") == []


def test_resolve_loops(acc):
    acc.add_user("bob@example.test", "pw")
    acc.add_alias("a@example.test", ["b@example.test"])
    acc.add_alias("b@example.test", ["a@example.test", "bob@example.test"])
    assert acc.resolve("a@example.test") == ["bob@example.test"]
    assert acc.resolve("b@example.test") == ["bob@example.test"]


def test_resolve_loop_without_a_user(acc):
    acc.add_alias("a@example.test", ["b@example.test"])
    acc.add_alias("b@example.test", ["a@example.test"])
    assert acc.resolve("a@example.test") == []


def test_resolve_depth_limit(acc):
    acc.add_user("bob@example.test", "pw")
    chain = [f"a{i}@example.test" for i in range(accounts.MAX_DEPTH + 2)]
    for source, target in zip(chain, chain[1:] + ["bob@example.test"]):
        acc.add_alias(source, [target])
    # The end of the chain is MAX_DEPTH + 2 expansions away: too deep.
    assert acc.resolve(chain[0]) == []
    # From two steps in, it is within reach.
    assert acc.resolve(chain[2]) == ["bob@example.test"]


def test_resolve_external_address_is_not_ours(acc):
    acc.add_alias("fwd@example.test", ["someone@remote.test"])
    assert acc.resolve("fwd@example.test") == ["someone@remote.test"]
    assert acc.resolve("someone@remote.test") == []


def test_two_handles_in_one_process_share_the_environment(acc, tmp_path):
    # LMDB forbids a second open of one environment in a process; core.lmdbenv
    # shares it, and closing one handle leaves the other working.
    with Accounts(tmp_path / "state") as second:
        second.add_domain("other.test")
        assert acc.is_local_domain("other.test")
    assert acc.domains() == ["example.test", "other.test"]


def test_postmaster_of_every_local_domain_reaches_someone(acc):
    # RFC 5321 4.5.1: with no user, alias or catch-all named postmaster, the
    # oldest user receives its mail; an alias of that name takes precedence.
    assert acc.resolve("postmaster@example.test") == []          # nobody at all yet
    acc.add_domain("other.test")
    acc.add_user("first@other.test", "pw")
    acc.add_user("amy@example.test", "pw")
    assert acc.resolve("PostMaster@example.test") == ["first@other.test"]
    assert acc.resolve("postmaster@remote.test") == []            # not a local domain
    acc.add_alias("postmaster@example.test", ["amy@example.test"])
    assert acc.resolve("postmaster@example.test") == ["amy@example.test"]


def test_may_send_as_own_address_and_aliases_leading_to_the_user(acc):
    acc.add_user("bob@example.test", "pw")
    acc.add_user("amy@example.test", "pw")
    acc.add_alias("team@example.test", ["sales@example.test"])
    acc.add_alias("sales@example.test", ["amy@example.test", "bob@example.test"])
    acc.add_alias("boss@example.test", ["amy@example.test"])
    acc.add_alias("@example.test", ["bob@example.test"])
    assert acc.may_send_as("bob@example.test", "Bob@Example.TEST")
    assert acc.may_send_as("bob@example.test", "team@example.test")
    assert not acc.may_send_as("bob@example.test", "amy@example.test")
    assert not acc.may_send_as("bob@example.test", "boss@example.test")
    # The catch-all brings bob the mail of nobody@, not the right to its name.
    assert acc.resolve("nobody@example.test") == ["bob@example.test"]
    assert not acc.may_send_as("bob@example.test", "nobody@example.test")
    assert not acc.may_send_as("bob@example.test", "bob@elsewhere.test")
    assert not acc.may_send_as("bob@example.test", "not an address")
