"""Removing and purging the package in a booted Debian 12: `apt remove` stops every
unit and keeps the mail and the accounts; `apt purge` deletes the state, the
configuration and the user's mail, and says so first."""

from pathlib import Path

import steps


def listening_ports(box):
    """TCP ports in LISTEN state in the container's network namespace."""
    ports = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{box.leader}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":                      # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_remove_keeps_mail_and_purge_deletes_it(boot, debs):
    box = boot()
    steps.apt_install(box, debs.inside(debs.deb))
    box.run("systemctl", "enable", "--now", *steps.UNITS)
    assert {25, 143, 993, 110, 995, 443} <= listening_ports(box)
    steps.add_user(box)
    steps.send(box, "kept after remove", "still here\n")
    steps.read(box, 993, "kept after remove")

    removed = box.run("apt-get", "remove", "-y", "mailsuite")
    assert set(steps.unit_state(box, "is-active", steps.UNITS + steps.SERVICES)
               .values()) == {"inactive"}, removed.stdout
    assert not {25, 143, 993, 110, 995, 443} & listening_ports(box), removed.stdout
    assert box.path("/var/lib/mailsuite/accounts").exists()
    mail = box.path("/var/lib/mailsuite/mail/example.test/demo")
    assert any((mail / "new").iterdir()) or any((mail / "cur").iterdir())
    assert box.path("/etc/mailsuite/mailsuite.toml").exists()

    purged = box.run("apt-get", "purge", "-y", "mailsuite")
    text = purged.stdout + purged.stderr
    assert "/var/lib/mailsuite" in text, text          # the warning names what goes
    assert not box.path("/var/lib/mailsuite").exists(), text
    assert not box.path("/etc/mailsuite").exists(), text
    assert steps.failed_units(box) == "", box.journal()
