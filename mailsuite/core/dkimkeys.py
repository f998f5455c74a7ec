"""DKIM keys in the state dir: one directory per signing domain, one file per key,
and which selector of each algorithm signs.

    <state_dir>/dkim/<domain>/<selector>.rsa.key       PEM, PKCS#1 (RSA, 2048 bits)
    <state_dir>/dkim/<domain>/<selector>.ed25519.key   PEM, PKCS#8 (RFC 8410)
    <state_dir>/dkim/<domain>/active                   "rsa <selector>" and
                                                       "ed25519 <selector>" lines

    ALGORITHMS = ("rsa", "ed25519")
    Key(domain, selector, algorithm, path, active)
    class KeyStore:                  # KeyStore(state_dir, gid=None)
        keys(domain=None) -> [Key]   # by domain, then selector
        active(domain) -> {algorithm: selector}
        generate(domain, algorithm, bits=2048, now=None) -> Key    # the new
            # selector is named by the month, "ms202611" (RSA), "ms202611e"
            # (Ed25519), with "-2", "-3"... when that name is taken, and signs
        remove(domain, selector)     # refused for a selector that signs
        private(key) -> bytes        # what dkimpy signs with (core.dkim)
        txt(key) -> str              # "v=DKIM1; k=rsa; p=..." (RFC 6376 3.6.1)

Keys are secrets handled like the TLS key (core.tls): mode 0600, or 0640 with
the daemons' group `gid` (mailctl passes it when run as root), in directories
0700 (0750 with the group). Every file is written atomically, and the `active`
file last, so a daemon reading the store sees a selector only once its key is
durable. Changes to one domain are serialized by a lock on its directory.
cryptography is imported only to make keys and print records (mailctl): the
daemons read PEM files and never load it.

Failure policy: bad names, unknown selectors, removing a selector that signs and
unreadable files raise DKIMKeyError with a message for the administrator.
"""

import base64
import datetime
import os
import re
from pathlib import Path
from typing import NamedTuple

from . import files

ALGORITHMS = ("rsa", "ed25519")
SELECTOR_PREFIX = "ms"
_SUFFIX = {"rsa": "", "ed25519": "e"}
# RFC 1035 2.3.1 labels (lower case: mailctl and accounts store domains so).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SELECTOR = re.compile(_LABEL)
_FILE = re.compile(rf"({_LABEL})\.(rsa|ed25519)\.key")
# RFC 8410 7: the DER of an Ed25519 private key is this prefix and the 32-byte seed.
_ED25519_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")


class DKIMKeyError(Exception):
    """A DKIM key cannot be made, found or removed; the message says why."""


class Key(NamedTuple):
    domain: str
    selector: str
    algorithm: str
    path: Path
    active: bool


def check_domain(domain):
    """The domain, lower case; DKIMKeyError unless it is a host name."""
    name = domain.lower().rstrip(".") if isinstance(domain, str) else ""
    if len(name) > 253 or not _DOMAIN.fullmatch(name):
        raise DKIMKeyError(f"invalid domain: {domain}")
    return name


class KeyStore:
    def __init__(self, state_dir, gid=None):
        self.root = Path(state_dir) / "dkim"
        self.gid = gid

    def keys(self, domain=None):
        domains = [check_domain(domain)] if domain else self._domains()
        found = []
        for name in domains:
            active = self.active(name)
            for path in sorted(self._dir(name).glob("*.key")):
                match = _FILE.fullmatch(path.name)
                if match:
                    selector, algorithm = match.groups()
                    found.append(Key(name, selector, algorithm, path,
                                     active.get(algorithm) == selector))
        return found

    def active(self, domain):
        """{algorithm: selector} of the keys that sign for `domain`."""
        try:
            text = (self._dir(domain) / "active").read_text("ascii")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise DKIMKeyError(f"cannot read the active DKIM keys of {domain}: {exc}")
        pairs = (line.split() for line in text.splitlines())
        return {p[0]: p[1] for p in pairs if len(p) == 2 and p[0] in ALGORITHMS}

    def generate(self, domain, algorithm, bits=2048, now=None):
        """Make a key for `domain` under a new selector; it signs from now on."""
        if algorithm not in ALGORITHMS:
            raise DKIMKeyError(f"unknown DKIM algorithm: {algorithm}")
        domain = check_domain(domain)
        directory = self._make_dir(domain)
        with files.locked_dir(directory):
            selector = self._new_selector(domain, algorithm, now)
            path = directory / f"{selector}.{algorithm}.key"
            files.write_atomic(path, _new_private_pem(algorithm, bits), self._mode(), self.gid)
            active = dict(self.active(domain), **{algorithm: selector})
            self._write_active(domain, active)
        return Key(domain, selector, algorithm, path, True)

    def remove(self, domain, selector):
        """Delete a selector's key(s); refused while one of them signs."""
        domain = check_domain(domain)
        directory = self._dir(domain)
        if not directory.is_dir():
            raise DKIMKeyError(f"no DKIM keys for {domain}")
        with files.locked_dir(directory):
            victims = [k for k in self.keys(domain) if k.selector == selector]
            if not victims:
                raise DKIMKeyError(f"no DKIM selector {selector} for {domain}")
            if any(k.active for k in victims):
                raise DKIMKeyError(f"selector {selector} signs for {domain}: "
                                   "rotate to a new one first")
            for key in victims:
                key.path.unlink()
            files.fsync_dir(directory)

    def private(self, key):
        """The private key as dkimpy takes it: the PEM for RSA, the base64 seed
        for Ed25519."""
        pem = self._read(key.path)
        if key.algorithm == "rsa":
            return pem
        try:
            der = base64.b64decode(b"".join(pem.splitlines()[1:-1]), validate=True)
        except ValueError:
            der = b""
        if len(der) != 48 or not der.startswith(_ED25519_PKCS8):
            raise DKIMKeyError(f"{key.path}: not an Ed25519 private key")
        return base64.b64encode(der[16:])

    def txt(self, key):
        """The key record (RFC 6376 3.6.1; k=ed25519: RFC 8463 4)."""
        from cryptography.hazmat.primitives import serialization
        try:
            public = serialization.load_pem_private_key(
                self._read(key.path), password=None).public_key()
        except ValueError as exc:
            raise DKIMKeyError(f"{key.path}: not a private key: {exc}") from None
        if key.algorithm == "rsa":
            der = public.public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            der = public.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
        return f"v=DKIM1; k={key.algorithm}; p={base64.b64encode(der).decode()}"

    def _domains(self):
        try:
            return sorted(p.name for p in self.root.iterdir()
                          if p.is_dir() and _DOMAIN.fullmatch(p.name))
        except FileNotFoundError:
            return []

    def _dir(self, domain):
        return self.root / check_domain(domain)

    def _read(self, path):
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DKIMKeyError(f"cannot read {path}: {exc.strerror}") from None

    def _mode(self):
        return 0o600 if self.gid is None else 0o640

    def _make_dir(self, domain):
        for path in (self.root, self._dir(domain)):
            if not path.is_dir():
                path.mkdir(mode=0o700 if self.gid is None else 0o750, parents=True)
                if self.gid is not None:
                    os.chown(path, -1, self.gid)
                files.fsync_dir(path.parent)
        return self._dir(domain)

    def _new_selector(self, domain, algorithm, now):
        when = now or datetime.datetime.now(datetime.timezone.utc)
        base = f"{SELECTOR_PREFIX}{when:%Y%m}{_SUFFIX[algorithm]}"
        taken = {k.selector for k in self.keys(domain)}
        candidates = [base] + [f"{base}-{n}" for n in range(2, 1000)]
        return next(name for name in candidates if name not in taken)

    def _write_active(self, domain, active):
        text = "".join(f"{alg} {active[alg]}\n" for alg in ALGORITHMS if alg in active)
        mode = 0o644 if self.gid is None else 0o640
        files.write_atomic(self._dir(domain) / "active", text.encode(), mode, self.gid)


def _new_private_pem(algorithm, bits):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        form = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        form = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form,
                             serialization.NoEncryption())
