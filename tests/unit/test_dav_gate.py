"""dav.gate: the path rules, Basic credentials, and the login's answers."""

import asyncio
import base64

import pytest

from mailsuite.core import config, login
from mailsuite.dav import gate


@pytest.mark.parametrize("path, safe", [
    ("/alice@example.test/calendar/", True),
    ("/alice@example.test/calendar/a%20b.ics", True),
    ("/", True),
    ("/a/../b/", False),
    ("/a/./b/", False),
    ("/a/..", False),
    ("/a/%2e%2e/b/", False),
    ("/a/%2E./b/", False),
    ("/a%2fb/", False),
    ("/a%2Fb/", False),
    ("/a%5cb/", False),
    ("/a\\b/", False),
    ("/a%00b/", False),
])
def test_safe_path(path, safe):
    assert gate.safe_path(path) is safe


def basic(text):
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_credentials():
    creds = gate.basic_credentials(basic("alice@example.test:pa:ss é"))
    assert (creds.user, creds.password) == ("alice@example.test", "pa:ss é")
    for header in ["", "Bearer x", basic("nocolon"), basic(":pw"), basic("u:"),
                   "Basic !!!", "Basic " + base64.b64encode(b"\xff:\xff").decode()]:
        assert gate.basic_credentials(header) is None


class FakeLogin:
    def __init__(self, error=None):
        self.error = error
        self.seen = []

    async def attempt(self, credentials, ip, method):
        self.seen.append((credentials.user, ip, method))
        if self.error:
            raise self.error()
        return login.LoggedIn(credentials.user.lower(), cached=False)


def environ(path="/alice@example.test/", auth=basic("Alice@example.test:pw"), **extra):
    env = {"PATH_INFO": path, "REQUEST_URI": path, "REMOTE_ADDR": "192.0.2.1"}
    if auth:
        env["HTTP_AUTHORIZATION"] = auth
    env.update(extra)
    return env


def run(the_gate, env):
    return asyncio.run(the_gate(env))


def test_login_passes_the_user_and_prepares_them_once():
    prepared = []
    the_gate = gate.Gate(FakeLogin(), prepared.append)
    for _ in range(2):
        env = environ()
        assert run(the_gate, env) is None
        assert env["mailsuite.user"] == "alice@example.test"
    assert prepared == ["alice@example.test"]
    assert the_gate.logins.seen[0] == ("Alice@example.test", "192.0.2.1", "http")


@pytest.mark.parametrize("error, status", [(login.Failed, 401), (login.Throttled, 429)])
def test_failed_and_throttled_logins(error, status):
    reply = run(gate.Gate(FakeLogin(error), None), environ())
    assert reply.status == status
    if status == 401:
        assert dict(reply.headers)["WWW-Authenticate"].startswith("Basic ")
    else:
        assert "Retry-After" in dict(reply.headers)


def test_no_credentials_is_401_without_a_login_attempt():
    fake = FakeLogin()
    assert run(gate.Gate(fake, None), environ(auth=None)).status == 401
    assert fake.seen == []


def test_public_paths_and_redirects_need_no_login():
    fake = FakeLogin(login.Failed)
    the_gate = gate.Gate(fake, None, public=["/mail/", "/autodiscover"])
    assert run(the_gate, environ("/mail/config-v1.1.xml", auth=None)) is None
    assert run(the_gate, environ("/autodiscover/autodiscover.xml", auth=None)) is None
    reply = run(the_gate, environ("/.well-known/carddav/", auth=None))
    assert (reply.status, reply.headers) == (301, [("Location", "/")])
    assert run(the_gate, environ("/mailx", auth=None)).status == 401
    assert fake.seen == []


@pytest.mark.parametrize("destination", ["https://h/alice@example.test/%2e%2e/bob/",
                                         "https://[::1/alice@example.test/"])
def test_trick_destination_is_400_before_the_login(destination):
    fake = FakeLogin()
    env = environ(HTTP_DESTINATION=destination)
    assert run(gate.Gate(fake, None), env).status == 400
    assert fake.seen == []


class NoAccounts:
    """Accounts where every password is wrong."""

    def credential_stamp(self, address):
        return None

    def verify(self, address, password):
        return False


def test_failures_from_one_address_are_throttled_by_core_login():
    settings = config.from_dict({"server": {"hostname": "mx.example.test"}, "login": {
        "failure_delay": 0, "failure_delay_max": 0, "address_failures": 3}}).login
    the_gate = gate.Gate(login.Login(settings, NoAccounts()), None)

    async def attempts():
        return [(await the_gate(environ())).status for _ in range(4)] + \
            [(await the_gate(environ(REMOTE_ADDR="198.51.100.9"))).status]
    assert asyncio.run(attempts()) == [401, 401, 401, 429, 401]
