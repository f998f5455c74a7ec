"""The listening sockets, for `mailctl doctor`: every enabled socket unit of
mailsuite listens.

When systemd runs the machine, systemctl says which units are enabled and
whether each listens (drop-ins that move a port included). Elsewhere (a
container, a development instance) the ports named by the units are tried on
127.0.0.1, or those given as NAME=PORT, and the wake-up sockets are looked for
in the runtime directory.

    (the units' sockets: core.units.unit_sockets())
    with_systemd(run) -> [(check, Finding)]     # run(*argv) -> stdout
    on_loopback(sockets, runtime_dir, ports, timeout) -> [(check, Finding)]
"""

import socket
from pathlib import Path

from ..core.units import UNIT_DIRS, UNIT_GLOB
from .checks import fail, ok

ENABLED = ("enabled", "enabled-runtime")
START = "start it: `systemctl enable --now mailsuite.target`"


def with_systemd(run):
    try:
        listed = run("systemctl", "list-unit-files", "--type=socket", "--no-legend",
                     UNIT_GLOB)
        units = [fields[0] for fields in map(str.split, listed.splitlines())
                 if len(fields) > 1 and fields[1] in ENABLED]
        shown = {unit: run("systemctl", "show", "-p", "ActiveState", "-p", "Listen",
                           unit) for unit in units}
    except OSError as exc:
        return [("sockets", fail(f"systemctl: {exc}", "check systemd's state: "
                                 "`systemctl status mailsuite.target`"))]
    if not units:
        return [("sockets", fail("no socket unit of mailsuite is enabled", START))]
    return [(f"socket {unit}", _unit_finding(unit, text)) for unit, text in shown.items()]


def _unit_finding(unit, text):
    """From `systemctl show`: ActiveState=active and Listen=[::]:25 (Stream) lines."""
    pairs = [line.partition("=")[::2] for line in text.splitlines()]
    state = dict(pairs).get("ActiveState", "unknown")
    listens = [value for key, value in pairs if key == "Listen"]
    if state != "active":
        return fail(f"{unit} is enabled but {state} (systemd)",
                    f"`systemctl restart {unit}`; `journalctl -u {unit}` says why")
    return ok(f"{unit} listens on {', '.join(listens) or 'its socket'} (systemd)")


def on_loopback(sockets, runtime_dir, ports, timeout):
    """Without systemd: a connection to each TCP port on 127.0.0.1 (`ports`
    {name: port} replace the units'), a socket file for each path."""
    found = []
    for sock in sockets:
        check = f"socket {sock.unit}"
        if sock.listen.startswith("/"):
            found.append((check, _socket_file(Path(runtime_dir) / Path(sock.listen).name)))
        else:
            port = ports.get(sock.name) or int(sock.listen.rpartition(":")[2])
            found.append((check, _port(sock.name, port, timeout)))
    if not sockets:
        found.append(("sockets", fail("no socket units of mailsuite found in "
                                      f"{', '.join(map(str, UNIT_DIRS[:2]))}",
                                      "install the mailsuite package")))
    return found


def _port(name, port, timeout):
    where = f"127.0.0.1:{port} ({name})"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
    except OSError as exc:
        return fail(f"nothing listens on {where}: {exc.strerror or 'no answer'} "
                    "(systemd is not running here: the port tried on loopback)",
                    "start the daemons; for an instance on other ports, give them "
                    "as --port NAME=PORT")
    return ok(f"{where} takes connections (systemd is not running here: the port "
              "tried on loopback)")


def _socket_file(path):
    if path.is_socket():
        return ok(f"{path} is a socket (systemd is not running here: the file "
                  "looked for)")
    return fail(f"no socket at {path} (systemd is not running here: the file "
                "looked for)", "start the daemons")
