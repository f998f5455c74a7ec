"""Fixtures for outbound delivery: Knot DNS serving the test zones, a private
Postfix as their MX, and deliverd pointed at both by its configuration.

The Postfix is shared by the tests of a module: each test sends to recipients
of its own, and `remote_mx` puts back the default answer (accept everyone)
before each test.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "security"))

from checks import assert_clean_log  # noqa: E402
from outbound_peers import Knot, RemoteMX  # noqa: E402

SENDER = "sender@example.test"


@pytest.fixture(scope="session")
def knot(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot")) as server:
        yield server


@pytest.fixture(scope="module")
def postfix():
    with RemoteMX() as server:
        yield server


@pytest.fixture
def remote_mx(postfix):
    if postfix.replies:
        postfix.answer({})
    return postfix


def outbound_config(knot, postfix, **extra):
    """[outbound] for the test peers: quick retries unless `extra` says otherwise."""
    values = {"nameservers": f'["{knot.nameserver}"]', "smtp_port": postfix.port,
              "backoff_min": 1, "backoff_max": 2, "connect_timeout": 10,
              "dns_timeout": 10}
    values.update(extra)
    return "[outbound]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


@pytest.fixture
def sender_instance(instance, knot, remote_mx):
    """An instance with the local user SENDER, configured for the test peers;
    deliverd not started yet (a test may add configuration first)."""
    instance.add_user(SENDER)
    instance.add_config(outbound_config(knot, remote_mx))
    yield instance
    if "deliverd" in instance.logs:
        assert_clean_log(instance, "deliverd")
