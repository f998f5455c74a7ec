"""The suite's socket units, read from the installed unit files (else the
source's): which sockets each program listens on. For `mailctl doctor` and davd's
/health, which look for them.

    Socket(unit, name, listen)          # name: FileDescriptorName=; listen: a
                                        # port, address:port or a socket's path
    unit_sockets() -> [Socket]
    parse_unit(path) -> [Socket]
    port_option("NAME=PORT") -> (name, port)    # ValueError if malformed
"""

from pathlib import Path
from typing import NamedTuple

SOURCE_UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT_DIRS = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"), SOURCE_UNITS)
UNIT_GLOB = "mail-*.socket"


class Socket(NamedTuple):
    unit: str
    name: str
    listen: str


def unit_sockets():
    """The sockets of mailsuite's units, from the first directory that has them."""
    for directory in UNIT_DIRS:
        units = sorted(directory.glob(UNIT_GLOB))
        if units:
            return [s for path in units for s in parse_unit(path)]
    return []


def parse_unit(path):
    section, name, listens = None, path.stem.removeprefix("mail-"), []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Socket]" and "=" in line:
            key, _, value = line.partition("=")
            if key == "FileDescriptorName":
                name = value.strip()
            elif key in ("ListenStream", "ListenDatagram"):
                listens.append(value.strip())
    return [Socket(path.name, name, listen) for listen in listens]


def port_option(text):
    """("imap", 1143) from "imap=1143"; a socket's port given elsewhere than in
    its unit (a development instance, tests)."""
    name, equals, port = text.partition("=")
    if not equals or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected NAME=PORT, got {text!r}")
    return name.strip(), int(port)
