"""core.dkim and core.dkimkeys: the key store, the streaming body hash, the
signer's output. Independent verifiers check the signatures in
tests/interop/test_dkim_verify.py; dkimpy verifies here only to catch a broken
signature early."""

import base64
import datetime
import hashlib
import os
import re
import shutil
import stat
import tracemalloc

import dkim
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsuite.core import config
from mailsuite.core.dkim import HEADER_MAX, BodyHash, Signer, SigningError
from mailsuite.core.dkimkeys import DKIMKeyError, KeyStore

NOVEMBER = datetime.datetime(2026, 11, 5, tzinfo=datetime.timezone.utc)
MESSAGE = (b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\n"
           b"Subject: a  subject\r\n folded\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <1@example.test>\r\nX-Other: not signed\r\n\r\n"
           b"Hello  there \r\n\r\nbye\r\n\r\n\r\n")


@pytest.fixture
def store(tmp_path):
    return KeyStore(tmp_path)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Keys made once (an RSA key takes a second): tests get copies."""
    made = KeyStore(tmp_path_factory.mktemp("keys"))
    made.generate("example.test", "rsa", now=NOVEMBER)
    made.generate("example.test", "ed25519", now=NOVEMBER)
    return made


@pytest.fixture
def both(made, tmp_path):
    shutil.copytree(made.root, tmp_path / "dkim")
    return KeyStore(tmp_path)


def dns_of(store):
    records = {f"{k.selector}._domainkey.{k.domain}.".encode(): store.txt(k).encode()
               for k in store.keys()}
    return lambda name, timeout=5: records.get(name)


def verified(store, signed, count):
    checker = dkim.DKIM(signed)
    return all(checker.verify(i, dnsfunc=dns_of(store)) for i in range(count))


def tags(field):
    value = re.sub(rb"\s+", b"", field.split(b":", 1)[1])
    return dict(part.split(b"=", 1) for part in value.split(b";") if part)


def fields(signature):
    return [b"DKIM-Signature:" + part for part in signature.split(b"DKIM-Signature:")[1:]]


# the key store

def test_generate_names_selectors_by_month(store, tmp_path):
    rsa = store.generate("Example.TEST", "rsa", now=NOVEMBER)
    ed = store.generate("example.test", "ed25519", now=NOVEMBER)
    assert (rsa.selector, ed.selector) == ("ms202611", "ms202611e")
    assert rsa.path == tmp_path / "dkim/example.test/ms202611.rsa.key"
    assert store.active("example.test") == {"rsa": "ms202611", "ed25519": "ms202611e"}
    assert stat.S_IMODE(rsa.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "dkim/example.test").stat().st_mode) == 0o700
    assert store.txt(ed).startswith("v=DKIM1; k=ed25519; p=")
    assert len(store.private(ed)) == 44         # base64 of the 32-byte seed


def test_group_readable_for_the_daemons(tmp_path):
    key = KeyStore(tmp_path, gid=os.getgid()).generate("example.test", "ed25519")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o640
    assert stat.S_IMODE(key.path.parent.stat().st_mode) == 0o750


def test_a_second_key_in_a_month_gets_a_new_selector_and_signs(both):
    key = both.generate("example.test", "rsa", now=NOVEMBER)
    assert key.selector == "ms202611-2"
    assert both.active("example.test")["rsa"] == "ms202611-2"
    assert [(k.selector, k.active) for k in both.keys("example.test")] == [
        ("ms202611-2", True), ("ms202611", False), ("ms202611e", True)]


def test_remove_refuses_a_selector_that_signs(both):
    with pytest.raises(DKIMKeyError, match="selector ms202611 signs for example.test"):
        both.remove("example.test", "ms202611")
    both.generate("example.test", "rsa", now=NOVEMBER)
    both.remove("example.test", "ms202611")
    assert [k.selector for k in both.keys()] == ["ms202611-2", "ms202611e"]


def test_bad_names_are_refused(store):
    for bad in ("../etc", "example", "a/b.test", "", "-x.test"):
        with pytest.raises(DKIMKeyError, match="invalid domain"):
            store.generate(bad, "rsa")
    with pytest.raises(DKIMKeyError, match="unknown DKIM algorithm: dsa"):
        store.generate("example.test", "dsa")
    with pytest.raises(DKIMKeyError, match="no DKIM keys for other.test"):
        store.remove("other.test", "ms202611")
    store.generate("example.test", "ed25519")
    with pytest.raises(DKIMKeyError, match="no DKIM selector nope for example.test"):
        store.remove("example.test", "nope")


# the body hash

def relaxed_hash(body):
    lines = b"\r\n".join(re.split(rb"\r?\n", body))
    return hashlib.sha256(Relaxed.canonicalize_body(lines)).digest()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"b c", b" ", b"\t", b"\r", b"\n", b"\r\n",
                                 b"  \t ", b"x\r\n\r\n"]), max_size=40),
       st.integers(1, 9))
def test_body_hash_matches_relaxed_canonicalization(parts, chunk):
    body = b"".join(parts) + b"\r\n"
    hasher = BodyHash(chunk=chunk)
    for i in range(0, len(body), chunk):
        hasher.update(body[i:i + chunk])
    assert hasher.digest() == relaxed_hash(body)


def test_body_hash_of_empty_bodies():
    for body in (b"", b"\r\n", b"\r\n\r\n", b"  \r\n"):
        hasher = BodyHash()
        hasher.update(body)
        assert hasher.digest() == hashlib.sha256(b"").digest(), body


def test_body_hash_of_a_long_line_fed_in_small_pieces():
    body = b"word  " * 1000 + b" \t \r\n\r\nend\r\n\r\n"
    hasher = BodyHash(chunk=7)
    for i in range(0, len(body), 5):
        hasher.update(body[i:i + 5])
    assert hasher.digest() == relaxed_hash(body)


# the signer

def test_signs_with_both_keys_ed25519_first(both):
    signature = Signer(both).headers("example.test", MESSAGE)
    ed, rsa = (tags(f) for f in fields(signature))
    assert (ed[b"a"], ed[b"s"], rsa[b"a"], rsa[b"s"]) == (
        b"ed25519-sha256", b"ms202611e", b"rsa-sha256", b"ms202611")
    assert ed[b"c"] == b"relaxed/relaxed" and ed[b"d"] == b"example.test"
    assert ed[b"h"] == b"from:to:subject:date:message-id:from"
    assert signature.endswith(b"\r\n") and b"\n" not in signature.replace(b"\r\n", b"")
    assert verified(both, signature + MESSAGE, 2)


def test_a_signed_message_verifies_with_lf_line_ends(both):
    message = MESSAGE.replace(b"\r\n", b"\n")
    signature = Signer(both).headers("example.test", message)
    assert verified(both, signature + MESSAGE, 2)


def test_a_file_signs_as_its_bytes(both, tmp_path):
    path = tmp_path / "message"
    path.write_bytes(MESSAGE)
    signer = Signer(both)
    from_file = [tags(f)[b"bh"] for f in fields(signer.headers("example.test", path))]
    with open(path, "rb") as opened:
        opened.read(10)
        from_open = [tags(f)[b"bh"] for f in fields(signer.headers("example.test", opened))]
        assert not opened.closed
    from_bytes = [tags(f)[b"bh"] for f in fields(signer.headers("example.test", MESSAGE))]
    assert from_file == from_open == from_bytes


def test_a_large_file_is_never_in_memory(both, tmp_path):
    path = tmp_path / "big"
    with open(path, "wb") as out:
        out.write(MESSAGE)
        for _ in range(16):
            out.write(b"0123456789 abcdef\t \r\n" * 50000)
    tracemalloc.start()
    try:
        signature = Signer(both).headers("example.test", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 16 << 20
    assert peak < 2 << 20, peak
    body = path.read_bytes().split(b"\r\n\r\n", 1)[1]
    expected = base64.b64encode(relaxed_hash(body))
    assert [tags(f)[b"bh"] for f in fields(signature)] == [expected, expected]


def test_rotation_is_picked_up_by_a_running_signer(both):
    signer = Signer(both)
    assert b"s=ms202611;" in signer.headers("example.test", MESSAGE)
    both.generate("example.test", "rsa", now=NOVEMBER)
    assert b"s=ms202611-2;" in signer.headers("example.test", MESSAGE)


def test_nothing_to_sign_with(both, tmp_path):
    assert Signer(both).headers("other.test", MESSAGE) == b""
    assert Signer(both).headers("../../etc", MESSAGE) == b""
    assert Signer(both, enabled=False).headers("example.test", MESSAGE) == b""
    cfg = config.from_dict({"server": {"state_dir": str(tmp_path)},
                            "dkim": {"sign": False}})
    assert Signer.load(cfg).headers("example.test", MESSAGE) == b""
    assert Signer.load(config.from_dict({"server": {"state_dir": str(tmp_path)}})) \
        .headers("example.test", MESSAGE).count(b"DKIM-Signature:") == 2


def test_messages_that_cannot_be_signed(both):
    signer = Signer(both)
    with pytest.raises(SigningError, match="no From header field"):
        signer.headers("example.test", b"To: x@example.org\r\n\r\nbody\r\n")
    with pytest.raises(SigningError, match="no From header field"):
        signer.headers("example.test", b"\r\nFrom: a@example.test\r\n")
    with pytest.raises(SigningError, match="not a header section"):
        signer.headers("example.test", b"From: a@example.test\r\nno colon here\r\n\r\n")
    with pytest.raises(SigningError, match="header section over"):
        signer.headers("example.test", b"From: a@example.test\r\n"
                       + b"X-Long: y\r\n" * (HEADER_MAX // 10 + 10000))


def test_headers_only_message_is_signed(both):
    message = b"From: a@example.test\r\nSubject: no body"
    signature = Signer(both).headers("example.test", message)
    assert verified(both, signature + message + b"\r\n", 2)


def test_rsa_bits_are_checked_by_the_configuration():
    with pytest.raises(config.ConfigError, match="dkim.rsa_bits: must be from 2048"):
        config.from_dict({"dkim": {"rsa_bits": 1024}})
