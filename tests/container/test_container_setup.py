"""The first hour in a booted Debian 12: `apt install` of the .deb, then `mailctl
setup --yes` with flags, and nothing else: a message sent to port 25 is read back
over IMAP (issue 11)."""

import steps


def test_install_then_setup_alone_serves_mail(boot, debs):
    box = boot()
    output = steps.apt_install(box, debs.inside(debs.deb))
    assert steps.installed_version(box) == f"install ok installed {debs.version}", output

    setup = box.run("mailctl", "setup", "--hostname", box.hostname, "--domain",
                    steps.DOMAIN, "--admin", steps.USER, "--password-stdin", "--yes",
                    input=steps.PASSWORD + "\n")
    assert "mailsuite.target enabled and started: done" in setup.stdout, setup.stdout
    assert f"alias postmaster@{steps.DOMAIN} -> {steps.USER}: done" in setup.stdout

    steps.send(box, "after setup", "the first hour\n")
    assert steps.read(box, 993, "after setup")["body"] == "the first hour\r\n"
    steps.send(box, "to the postmaster", "hello\n", recipient=f"postmaster@{steps.DOMAIN}")
    assert steps.read(box, 993, "to the postmaster")["body"] == "hello\r\n"
    assert steps.failed_units(box) == "", box.journal()
