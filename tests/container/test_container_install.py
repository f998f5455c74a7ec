"""The package end to end in a booted Debian 12: `apt install` the .deb, enable the
sockets, add a domain and a user with mailctl, send a message to port 25 from the
container's network, read it back over IMAP on 143 (STARTTLS) and 993 (TLS) and
over POP3 on 110 (STLS) and 995 (TLS), and find its queue id in smtpd's journal;
submit one on port 587 (STARTTLS, AUTH) and read it back, delivered locally;
port 80 (acmed) redirects to HTTPS, and `mailctl cert status` reports the
installation's self-signed certificate.
Every program must have been started by
systemd through its socket, run as the user mailsuite with no capabilities, and
no unit may have failed.
"""

import steps


def test_install_enable_send_read(boot, debs):
    box = boot()

    output = steps.apt_install(box, debs.inside(debs.deb))
    assert steps.installed_version(box) == f"install ok installed {debs.version}", output
    # Installed, not enabled: nothing listens until the admin says so.
    assert set(steps.unit_state(box, "is-enabled", steps.UNITS).values()) \
        == {"disabled"}, output
    assert set(steps.unit_state(box, "is-active", steps.UNITS).values()) \
        == {"inactive"}, output
    assert box.path("/etc/mailsuite/tls/cert.pem").exists(), \
        f"the first installation made no certificate:\n{output}"

    box.run("systemctl", "enable", "--now", *steps.UNITS)
    assert set(steps.unit_state(box, "is-active", steps.UNITS).values()) == {"active"}
    # Socket activation: the sockets listen, the programs wait for a first client.
    assert set(steps.unit_state(box, "is-active", steps.SERVICES).values()) \
        == {"inactive"}

    steps.add_user(box)
    qid = steps.send(box, "hello from the container", "first message\n")
    assert steps.read(box, 993, "hello from the container")["body"] \
        == "first message\r\n"
    starttls = steps.read(box, 143, "hello from the container")
    assert starttls["body"] == "first message\r\n"
    assert "LOGINDISABLED" in starttls["capabilities"], starttls
    assert steps.pop(box, 995, "hello from the container")["body"] \
        == "first message\r\n"
    stls = steps.pop(box, 110, "hello from the container")
    assert stls["body"] == "first message\r\n"
    # Before STLS, no way to send a password: neither USER nor SASL.
    assert "STLS" in stls["capabilities"] and "USER" not in stls["capabilities"], stls
    assert qid in steps.journal_has(box, "mail-smtpd", qid), \
        f"queue id {qid} not in journalctl -u mail-smtpd"
    qid = steps.submit(box, "submitted in the container", "sent with AUTH\n")
    assert steps.read(box, 993, "submitted in the container")["body"] \
        == "sent with AUTH\r\n"
    assert qid in steps.journal_has(box, "mail-submitd", qid), \
        f"queue id {qid} not in journalctl -u mail-submitd"
    assert steps.dav(box) == {"status": 207, "collections": ["calendar", "contacts"]}

    assert steps.web(box, "/mail?x=1") == {
        "status": 301, "location": f"https://{box.hostname}/mail?x=1"}
    status = box.run("mailctl", "cert", "status").stdout
    assert f"names: {box.hostname}" in status and "(self-signed)" in status, status
    # acmed (user mailsuite) replaces the certificate's files in their folder.
    assert box.run("stat", "-c", "%a %U %G", "/etc/mailsuite/tls",
                   "/var/lib/mailsuite/acme").stdout.split("\n")[:2] == [
        "770 root mailsuite", "750 mailsuite mailsuite"]

    uid, gid = steps.mailsuite_ids(box)
    processes = steps.probe(box, *steps.SERVICES)
    for unit, listeners in steps.LISTENERS.items():
        process = processes[unit]
        assert process["pid"] > 0, f"{unit} is not running: {box.journal('-u', unit)}"
        assert process["uid"] == [uid, uid] and process["gid"] == [gid, gid], process
        assert process["cap_eff"] == 0 and process["cap_bnd"] == 0, process
        assert process["inherited"] == listeners, \
            f"{unit} does not hold the sockets systemd bound: {process}"
    assert steps.failed_units(box) == "", box.journal()
