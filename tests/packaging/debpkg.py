"""What the packaging tests share: the units and daemons of the tree, and `make deb`."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
# Daemons: every service's ExecStart is /usr/libexec/mailsuite/mail-NAME.
DAEMONS = sorted(path.stem.removeprefix("mail-") for path in SYSTEMD.glob("mail-*.service"))
UNITS = sorted(path.name for pattern in ("*.service", "*.socket", "*.timer", "*.target")
               for path in SYSTEMD.glob(pattern))


def build(version=None):
    """`make deb` (with DEB_VERSION); returns the path of the .deb it made."""
    argv = ["make", "-s", "deb"] + ([f"DEB_VERSION={version}"] if version else [])
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = ROOT / proc.stdout.strip().splitlines()[-1]
    assert path.is_file(), path
    return path


def unpack(deb, into):
    subprocess.run(["dpkg-deb", "-x", deb, into], check=True)
    return into
