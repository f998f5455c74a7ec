"""The systemd units: confinement scores, `systemd-analyze verify`, and the rules
every unit follows (so that a new daemon's units follow them too)."""

import re
import subprocess

import pytest

from debpkg import SYSTEMD, UNITS

SERVICES = [unit for unit in UNITS if unit.endswith(".service")]
MAX_EXPOSURE = 1.5


def directives(unit):
    """[(key, value)] of a unit file, in order (keys may repeat)."""
    pairs = []
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def values(unit, key):
    return [value for name, value in directives(unit) if name == key]


@pytest.mark.parametrize("service", SERVICES)
def test_exposure(service):
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager",
         str(SYSTEMD / service)], capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, proc.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_verify(unit, system_root):
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--recursive-errors=yes",
         f"--root={system_root}", unit], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert unit not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_verify_notices_a_missing_program(system_root, tmp_path):
    # The check above is worth something only if verify looks inside the root.
    program = system_root / "usr/libexec/mailsuite/mail-smtpd"
    moved = tmp_path / "mail-smtpd"
    program.rename(moved)
    try:
        proc = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"--root={system_root}",
             "mail-smtpd.service"], capture_output=True, text=True, timeout=60)
    finally:
        moved.rename(program)
    assert proc.returncode != 0
    assert "mail-smtpd is not executable" in proc.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_services_run_unprivileged(service):
    name = service.removesuffix(".service")
    assert values(service, "Type") == ["notify"]
    assert values(service, "User") == values(service, "Group") == ["mailsuite"]
    assert values(service, "CapabilityBoundingSet") == [""]
    assert values(service, "NoNewPrivileges") == ["yes"]
    assert values(service, "ExecStart") == [f"/usr/libexec/mailsuite/{name}"]
    assert values(service, "Documentation") == [f"man:{name}(8)"]


@pytest.mark.parametrize("socket", [u for u in UNITS if u.endswith(".socket")])
def test_sockets_name_their_listeners(socket):
    # The programs tell their listeners apart by name (decision 0002).
    assert len(values(socket, "FileDescriptorName")) == 1
    assert values(socket, "WantedBy") == ["sockets.target"]


def test_target_brings_up_every_socket_and_timer():
    wanted = " ".join(values("mailsuite.target", "Wants")).split()
    assert sorted(wanted) == [u for u in UNITS if u.endswith((".socket", ".timer"))]
    for unit in UNITS:
        if unit != "mailsuite.target":
            assert values(unit, "PartOf") == ["mailsuite.target"], unit
