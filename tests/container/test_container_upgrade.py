"""Upgrading the package keeps the server as the admin left it: an older build is
installed and set up (units enabled, a domain, a user, a message delivered, the
configuration file edited), then the current build is installed over it. The user
logs in with the same password and reads the message, new mail flows, the units are
still enabled and active, the running programs were restarted into the new code,
and the configuration, its permissions and the certificate are untouched.

Both ways that mailsuite(7) gives to enable the server are upgraded: the units one
by one, and mailsuite.target.
"""

import pytest

import steps

ADMIN_EDIT = "\n# edited by the admin before the upgrade\n"
CONFIG = "/etc/mailsuite/mailsuite.toml"


@pytest.mark.parametrize("enabled", [steps.UNITS, ["mailsuite.target"]],
                         ids=["units", "target"])
def test_upgrade_keeps_users_mail_and_units(boot, debs, enabled):
    box = boot()
    output = steps.apt_install(box, debs.inside(debs.old_deb))
    assert steps.installed_version(box) == f"install ok installed {debs.old_version}", \
        output
    box.run("systemctl", "enable", "--now", *enabled)
    steps.add_user(box)
    config = box.path(CONFIG)
    with open(config, "a") as f:
        f.write(ADMIN_EDIT)
    config_stat = config.stat()
    # dpkg-statoverride: readable by the daemons' group, by nobody else.
    assert (config_stat.st_uid, config_stat.st_gid, oct(config_stat.st_mode)) \
        == (0, steps.mailsuite_ids(box)[1], oct(0o100640))
    cert = box.path(steps.CERT).read_bytes()
    qid = steps.send(box, "before the upgrade", "sent to the old version\n")
    assert steps.read(box, 993, "before the upgrade")["body"] \
        == "sent to the old version\r\n"
    assert steps.pop(box, 995, "before the upgrade")["body"] \
        == "sent to the old version\r\n"
    steps.submit(box, "submitted before the upgrade", "to the old submitd\n")
    assert steps.read(box, 993, "submitted before the upgrade")["body"] \
        == "to the old submitd\r\n"
    assert steps.dav(box)["status"] == 207
    assert steps.web(box, "/")["status"] == 301     # acmed, started by a request
    before = steps.probe(box, *steps.SERVICES)
    assert all(before[unit]["pid"] for unit in steps.SERVICES), before

    output = steps.apt_install(box, debs.inside(debs.deb))
    assert steps.installed_version(box) == f"install ok installed {debs.version}", \
        output

    assert set(steps.unit_state(box, "is-enabled", enabled).values()) == {"enabled"}, \
        output
    assert set(steps.unit_state(box, "is-active", steps.UNITS).values()) \
        == {"active"}, output
    after = steps.probe(box, *steps.SERVICES)
    for unit in steps.SERVICES:
        assert after[unit]["pid"] not in (0, before[unit]["pid"]), \
            f"{unit} was not restarted by the upgrade: {before[unit]} {after[unit]}"
    assert steps.failed_units(box) == "", box.journal()
    assert steps.USER in box.run("mailctl", "user", "list").stdout
    assert config.read_text().endswith(ADMIN_EDIT), "the admin's edit was lost"
    stat = config.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode) \
        == (config_stat.st_uid, config_stat.st_gid, config_stat.st_mode)
    assert box.path(steps.CERT).read_bytes() == cert, "the certificate was replaced"

    for port in (993, 143):
        assert steps.read(box, port, "before the upgrade")["body"] \
            == "sent to the old version\r\n"
    for port in (995, 110):
        assert steps.pop(box, port, "before the upgrade")["body"] \
            == "sent to the old version\r\n"
    assert qid in steps.journal_has(box, "mail-smtpd", qid)
    assert steps.dav(box) == {"status": 207, "collections": ["calendar", "contacts"]}
    steps.send(box, "after the upgrade", "sent to the new version\n")
    assert steps.read(box, 993, "after the upgrade")["body"] \
        == "sent to the new version\r\n"
    steps.submit(box, "submitted after the upgrade", "to the new submitd\n")
    assert steps.read(box, 993, "submitted after the upgrade")["body"] \
        == "to the new submitd\r\n"
