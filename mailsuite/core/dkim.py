"""DKIM signing (RFC 6376) of outgoing mail with the keys of core.dkimkeys.

    signer = Signer.load(cfg)            # keys under <state_dir>/dkim
    fields = signer.headers(domain, message)
        # message: bytes, or the path of a file holding it (a spool file), or a
        # binary file; returns the DKIM-Signature header fields to put on top of
        # the message, CRLF-terminated: Ed25519 (RFC 8463) then RSA, one for each
        # active key of the domain; b"" when the domain has no key or [dkim]
        # sign is false

Both signatures are rsa-sha256 / ed25519-sha256 with relaxed/relaxed
canonicalization (RFC 6376 3.4.2, 3.4.4), over the header fields of SIGNED
present in the message, From once more than it occurs (RFC 6376 5.4.2: no From
can be added without breaking the signature).

Memory: dkimpy parses a whole message into a list of lines, more copies than a
50 MiB message may take. So dkimpy gets the header section alone, which it
canonicalizes, hashes and signs (DomainSigner.gen_header), and the body hash
(bh=) is computed here (BodyHash) while the body is read in pieces of CHUNK
bytes: a message in a file is never in memory, one in bytes is never copied.

Keys are read when a domain is first signed for, and read again when its
`active` file changes (mailctl dkim rotate), so a running daemon follows a
rotation without a restart.

Failure policy: a message that cannot be signed (no From, a header section
that is not one, or over HEADER_MAX) raises SigningError; a key that cannot
be read raises DKIMKeyError. Neither changes anything: the caller decides.
"""

import base64
import hashlib
import io
import os
import re
import time

import dkim
import nacl.encoding
import nacl.signing
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from .dkimkeys import ALGORITHMS, DKIMKeyError, KeyStore, check_domain

CHUNK = 64 << 10
HEADER_MAX = 1 << 20
SIGNED = (b"from", b"sender", b"reply-to", b"subject", b"date", b"to", b"cc",
          b"message-id", b"in-reply-to", b"references", b"mime-version",
          b"content-type", b"content-transfer-encoding", b"content-id",
          b"content-description", b"content-disposition", b"content-language")
_CANON = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_HOLD = re.compile(rb"[ \t\r]*\Z")
_HEADER_END = re.compile(rb"(?:\A|\n)\r?\n")
_DKIM_NAMES = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}


class SigningError(Exception):
    """The message cannot be signed; the message says why."""


class BodyHash:
    """SHA-256 of a body under relaxed canonicalization (RFC 6376 3.4.4), fed
    in pieces. A line ends at LF (a CR before it is part of the ending), so
    bodies with LF line ends hash as they will once sent with CRLF. Empty lines
    are held back until a non-empty one follows: those at the end are ignored."""

    def __init__(self, chunk=CHUNK):
        self.hash = hashlib.sha256()
        self.chunk = chunk
        self.carry = b""        # the line not ended yet, unless flushed
        self.empty = 0          # empty lines held back
        self.open = False       # part of the current line is already hashed

    def update(self, data):
        data = self.carry + data
        end = data.rfind(b"\n") + 1
        if end:
            self._lines(_canonical_lines(data[:end]))
        self.carry = data[end:]
        if len(self.carry) > self.chunk:
            self._flush_part()

    def digest(self):
        last = _compress(self.carry).rstrip(b" ")
        if last or self.open:
            self._emit(last + b"\r\n")
        self.carry = b""
        return self.hash.digest()

    def _lines(self, text):
        """Whole canonical lines, each ending in CRLF."""
        start = len(text)
        while text.endswith(b"\r\n", 0, start):
            start -= 2
        head, count = text[:start], (len(text) - start) // 2
        if head or self.open:
            self._emit(head + b"\r\n")
            self.empty = count - 1
            self.open = False
        else:
            self.empty += count

    def _flush_part(self):
        """Hash the start of a long line; keep back what may be its end (WSP
        to strip, a CR before the LF)."""
        keep = _HOLD.search(self.carry).start()
        if keep:
            self._emit(_compress(self.carry[:keep]))
            self.open = True
            self.carry = self.carry[keep:]

    def _emit(self, data):
        if self.empty:
            self.hash.update(b"\r\n" * self.empty)
            self.empty = 0
        self.hash.update(data)


def _compress(text):
    """RFC 6376 3.4.4: every run of WSP becomes one SP. (bytes.replace, not a
    regular expression: several times faster on text with many short runs.)"""
    text = text.replace(b"\t", b" ")
    while b"  " in text:
        text = text.replace(b"  ", b" ")
    return text


def _canonical_lines(text):
    """Whole lines, each ending at LF, in relaxed form with CRLF endings: WSP
    compressed, and the SP left before a line end removed."""
    text = _compress(text).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return text.replace(b" \r\n", b"\r\n")


class SigningKey:
    """One active key, parsed once."""

    def __init__(self, store, key):
        self.selector = key.selector.encode()
        self.algorithm = _DKIM_NAMES[key.algorithm]
        material = store.private(key)
        try:
            if key.algorithm == "rsa":
                self.pk = parse_pem_private_key(material)
            else:
                self.pk = nacl.signing.SigningKey(
                    material, encoder=nacl.encoding.Base64Encoder)
        except (UnparsableKeyError, ValueError) as exc:
            raise DKIMKeyError(f"{key.path}: unusable key: {exc}") from None


class Signer:
    def __init__(self, store, enabled=True):
        self.store = store
        self.enabled = enabled
        self._keys = {}         # domain -> (stamp of its active file, [SigningKey])

    @classmethod
    def load(cls, cfg):
        return cls(KeyStore(cfg.state_dir), cfg.dkim.sign)

    def headers(self, domain, message):
        keys = self._active_keys(domain) if self.enabled else []
        if not keys:
            return b""
        with _open(message) as source:
            header, body_start = _header_section(source)
            body = BodyHash()
            body.update(body_start)
            for piece in iter(lambda: source.read(CHUNK), b""):
                body.update(piece)
        bh = base64.b64encode(body.digest())
        return b"".join(_sign(header, check_domain(domain).encode(), key, bh)
                        for key in keys)

    def _active_keys(self, domain):
        try:
            domain = check_domain(domain)
        except DKIMKeyError:
            return []
        stamp = _stamp(self.store.root / domain / "active")
        cached = self._keys.get(domain)
        if cached is None or cached[0] != stamp:
            keys = [k for k in self.store.keys(domain) if k.active] if stamp else []
            order = sorted(keys, key=lambda k: ALGORITHMS.index(k.algorithm),
                           reverse=True)
            cached = self._keys[domain] = (stamp, [SigningKey(self.store, k)
                                                   for k in order])
        return cached[1]


def _sign(header, domain, key, bh):
    signer = dkim.DKIM(header, signature_algorithm=key.algorithm, linesep=b"\r\n")
    names = [name.lower() for name, _ in signer.headers]
    if b"from" not in names:
        # RFC 6376 5.4: the From header field MUST be signed.
        raise SigningError("the message has no From header field")
    include = [name for name in names if name in SIGNED] + [b"from"]
    fields = [(b"v", b"1"), (b"a", key.algorithm), (b"c", b"relaxed/relaxed"),
              (b"d", domain), (b"s", key.selector),
              (b"t", str(int(time.time())).encode()),
              (b"h", b":".join(include)), (b"bh", bh),
              # dkimpy's own placeholder: b= gets a line of its own.
              (b"b", b"0" * 60)]
    signer.hasher = dkim.HASH_ALGORITHMS[key.algorithm]
    return b"DKIM-Signature: " + signer.gen_header(
        fields, include, _CANON, b"DKIM-Signature", key.pk)


def _header_section(source):
    """(the header fields, the start of the body) of a message read from
    `source`, which is left positioned after that start."""
    data = b""
    while True:
        found = _HEADER_END.search(data)
        if found:
            break
        piece = source.read(CHUNK)
        if not piece:
            return _parseable(data + b"\r\n"), b""
        data += piece
        if len(data) > HEADER_MAX + CHUNK:
            raise SigningError(f"header section over {HEADER_MAX} bytes")
    return _parseable(data[:found.start() + 1] if found.start() else b""), \
        data[found.end():]


def _parseable(header):
    try:
        dkim.rfc822_parse(header)
    except dkim.MessageFormatError as exc:
        raise SigningError(f"not a header section: {exc}") from None
    return header


def _open(message):
    if isinstance(message, (bytes, bytearray, memoryview)):
        return io.BytesIO(message)
    if isinstance(message, (str, os.PathLike)):
        return open(message, "rb")
    message.seek(0)
    return _Borrowed(message)


class _Borrowed:
    """A caller's file: read from its start, not closed."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self.file

    def __exit__(self, *exc):
        return False


def _stamp(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
