"""deliverd through a relay host (smarthost): Postfix on its relay address,
which takes mail only from a client logged in over TLS (its logins checked by
a private Dovecot). No MX is looked up: elsewhere.test is in no test zone."""

import pytest

from harness import wait_for
from mailsuite.core import notify
from mailsuite.core.spool import Spool, new_qid
from outbound_fixtures import SENDER
from outbound_mx import RemoteMX
from outbound_peers import MX_DOMAINS, RELAY_ADDRESS

USER, PASSWORD = "relayuser", "relay-password"
WAIT = 30


@pytest.fixture(scope="module")
def relay():
    with RemoteMX(domains=MX_DOMAINS + ("elsewhere.test",),
                  relay_users={USER: PASSWORD}) as server:
        yield server


def configure(inst, knot, relay, password):
    (inst.base / "relay-password").write_text(password + "\n")
    inst.add_user(SENDER)
    inst.add_config(f'[outbound]\nnameservers = ["{knot.nameserver}"]\n'
                    f'relay_host = "{RELAY_ADDRESS}:{relay.port}"\n'
                    f'relay_user = "{USER}"\nrelay_password_file = "relay-password"\n'
                    "backoff_min = 1\nbackoff_max = 2\n")


def send(inst, recipient, marker):
    with Spool(inst.state) as spool:
        spool.enqueue_sync(new_qid(), SENDER, [recipient],
                           f"Subject: {marker}\r\n\r\nbody\r\n".encode())
    notify.send(inst.runtime / "deliverd.wakeup")


def test_mail_goes_through_the_relay_host_logged_in(instance, knot, relay):
    configure(instance, knot, relay, PASSWORD)
    instance.start("deliverd")
    send(instance, "someone@elsewhere.test", "relayed")
    assert wait_for(lambda: [m for m in relay.messages("someone@elsewhere.test")
                             if b"Subject: relayed" in m], WAIT)
    assert "postfix/relay/smtpd" in relay.log()
    assert f"sasl_method=PLAIN, sasl_username={USER}" in relay.log()
    assert wait_for(lambda: f"relay={RELAY_ADDRESS}[{RELAY_ADDRESS}]"
                    in instance.log("deliverd"), WAIT)
    assert PASSWORD not in instance.log("deliverd")


def test_a_refused_login_defers_the_mail(instance, knot, relay):
    configure(instance, knot, relay, "wrong-password")
    instance.start("deliverd")
    send(instance, "other@elsewhere.test", "refused-login")
    assert wait_for(lambda: "dsn=4.7.8, status=deferred" in instance.log("deliverd"),
                    WAIT)
    assert "refused the relay login: 535" in instance.log("deliverd")
    assert relay.messages("other@elsewhere.test") == []
    assert "wrong-password" not in instance.log("deliverd")


def test_a_missing_password_file_stops_deliverd_at_start(instance, knot, relay):
    configure(instance, knot, relay, PASSWORD)
    (instance.base / "relay-password").unlink()
    # The harness reports the wait status: 19968 is exit status 78 (EX_CONFIG).
    with pytest.raises(AssertionError, match=r"exited \(19968\)"):
        instance.start("deliverd")
    [line] = [l for l in instance.log("deliverd").splitlines() if l.strip()]
    assert line.startswith("mail-deliverd: ") and "cannot read the relay password" in line
