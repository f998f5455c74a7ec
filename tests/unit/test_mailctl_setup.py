"""mailctl setup: from a fresh state directory to a working configuration, run as
the real program; run again, it changes nothing; on a terminal it asks."""

import os
import subprocess
from types import SimpleNamespace

import pytest

from harness import ROOT
from mailsuite import dev
from mailsuite.core import config
from mailsuite.core.accounts import Accounts
from test_mailctl import run_in_terminal

# What the package's file leaves to setup: no hostname. Paths relative to the file.
FRESH_CONFIG = """[server]
state_dir = "state"
runtime_dir = "run"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"
"""
ROLES = ["abuse", "hostmaster", "postmaster"]


@pytest.fixture
def fresh(tmp_path):
    path = tmp_path / "mailsuite.toml"
    path.write_text(FRESH_CONFIG)
    return SimpleNamespace(config=path, root=tmp_path)


def run_setup(fresh, *args, input=None):
    env = dict(os.environ, PYTHONPATH=os.fspath(ROOT))
    return subprocess.run(
        [dev.PYTHON, "-m", "mailsuite.mailctl", "-c", os.fspath(fresh.config), "setup",
         *args], input=input, capture_output=True, text=True, env=env, timeout=60)


def state_of(fresh):
    """Everything setup makes, to compare before and after a second run."""
    with Accounts(fresh.root / "state") as accounts:
        return {"config": fresh.config.read_bytes(),
                "domains": accounts.domains(),
                "users": [(u["address"], u["created"]) for u in accounts.users()],
                "aliases": accounts.aliases(),
                "hash": accounts.credential_stamp("admin@example.test"),
                "cert": (fresh.root / "tls/cert.pem").read_bytes(),
                "dkim": sorted((p.name, p.read_bytes())
                               for p in (fresh.root / "state/dkim").rglob("*")
                               if p.is_file()),
                "key": (fresh.root / "tls/key.pem").read_bytes()}


def test_setup_with_flags_makes_a_working_server(fresh):
    proc = run_setup(fresh, "--hostname", "Mail.Example.test", "--admin", "Admin@example.test",
                 "--yes")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    # The configuration: the hostname set, everything else as it was, and valid.
    cfg = config.load(fresh.config)
    assert cfg.server.hostname == "mail.example.test"
    assert fresh.config.read_text().replace('hostname = "mail.example.test"\n', "") \
        == FRESH_CONFIG
    # The domain (the hostname without its first label), the administrator with
    # a generated password printed alone on its line, the role aliases.
    with Accounts(fresh.root / "state") as accounts:
        assert accounts.domains() == ["example.test"]
        password = out[out.index("password of admin@example.test:") + 1]
        assert accounts.verify("admin@example.test", password)
        assert accounts.aliases() == [(f"{role}@example.test", ["admin@example.test"])
                                      for role in ROLES]
    assert (fresh.root / "tls/cert.pem").exists() and (fresh.root / "tls/key.pem").exists()
    # Each step says what it did; systemd is not running the test machine.
    assert "domain example.test: done" in out
    assert "alias postmaster@example.test -> admin@example.test: done" in out
    assert "mailsuite.target: not enabled: systemd is not running here" in out
    assert "  incoming:  IMAP mail.example.test port 993, TLS (or port 143, STARTTLS)" in out
    # DKIM keys of both kinds, and every record to publish, as `mailctl dns`
    # prints them: the same lines, in the same order, at the end.
    assert "DKIM keys of example.test: done" in out
    keys = sorted(p.name for p in (fresh.root / "state/dkim/example.test").glob("*.key"))
    assert sorted(name.split(".", 1)[1] for name in keys) == ["ed25519.key", "rsa.key"]
    dns = subprocess.run(
        [dev.PYTHON, "-m", "mailsuite.mailctl", "-c", os.fspath(fresh.config), "dns",
         "example.test"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=os.fspath(ROOT))).stdout.splitlines()
    start = out.index(dns[0])
    assert out[start:start + len(dns)] == dns
    assert any(line.startswith("example.test.") and " MX " in line for line in dns)
    assert sum("v=DKIM1" in line for line in dns) == 2


def test_setup_again_changes_nothing_and_says_so(fresh):
    first = run_setup(fresh, "--hostname", "mail.example.test", "--admin", "admin@example.test",
                  "--yes")
    assert first.returncode == 0, first.stderr
    before = state_of(fresh)
    again = run_setup(fresh, "--hostname", "other.example.test", "--admin",
                  "admin@example.test", "--yes", "--generate")
    assert again.returncode == 0, again.stderr
    assert state_of(fresh) == before
    out = again.stdout.splitlines()
    assert (f"server.hostname in {fresh.config}: is mail.example.test, kept (edit the "
            "file to change it)") in out
    assert "user admin@example.test: exists, kept" in out
    assert "DKIM keys of example.test: exists, kept" in out
    for role in ROLES:
        assert f"alias {role}@example.test: exists, kept" in out
    assert not any(line.endswith(": done") for line in out)
    assert "password of" not in again.stdout


def test_setup_keeps_an_existing_postmaster_alias(fresh):
    assert run_setup(fresh, "--hostname", "mail.example.test", "--admin", "admin@example.test",
                 "--yes").returncode == 0
    with Accounts(fresh.root / "state") as accounts:
        accounts.remove_alias("abuse@example.test")
        accounts.add_alias("abuse@example.test", ["desk@elsewhere.test"])
    proc = run_setup(fresh, "--admin", "admin@example.test", "--yes")
    assert proc.returncode == 0, proc.stderr
    with Accounts(fresh.root / "state") as accounts:
        assert dict(accounts.aliases())["abuse@example.test"] == ["desk@elsewhere.test"]


@pytest.mark.parametrize("args, message", [
    (["--hostname", "mail.example.test", "--admin", "admin@other.test"],
     "the administrator admin@other.test must be an address of example.test"),
    (["--hostname", "not a name", "--admin", "admin@example.test"],
     "invalid domain: not a name"),
    (["--hostname", "mail.example.test", "--admin", "not an address"],
     "invalid address: not an address"),
])
def test_setup_refuses_bad_input_before_any_change(fresh, args, message):
    proc = run_setup(fresh, *args, "--yes")
    assert (proc.returncode, proc.stderr) == (1, f"mailctl: {message}\n")
    assert fresh.config.read_text() == FRESH_CONFIG
    assert not (fresh.root / "state").exists()


def test_setup_without_a_terminal_needs_the_administrator(fresh):
    proc = run_setup(fresh, "--hostname", "mail.example.test", "--yes")
    assert proc.returncode == 2 and "--admin ADDRESS is needed" in proc.stderr
    assert fresh.config.read_text() == FRESH_CONFIG


def test_setup_on_a_terminal_asks_for_what_the_options_leave_out(fresh):
    # Hostname, domain (the default), administrator, the confirmation, then the
    # administrator's password twice.
    status, output = run_in_terminal(
        fresh, ["setup"], ["mail.example.test", "", "boss@example.test", "y",
                           "long pass phrase", "long pass phrase"])
    assert status == 0, output
    assert "First mail domain [example.test]: " in output
    assert "Set up example.test on mail.example.test with administrator " \
           "boss@example.test? [Y/n]: " in output
    with Accounts(fresh.root / "state") as accounts:
        assert accounts.verify("boss@example.test", "long pass phrase")
        assert dict(accounts.aliases())["postmaster@example.test"] == ["boss@example.test"]


def test_setup_on_a_terminal_stops_when_not_confirmed(fresh):
    status, output = run_in_terminal(
        fresh, ["setup", "--hostname", "mail.example.test", "--domain", "example.test",
                "--admin", "boss@example.test"], ["n"])
    assert status == 1, output
    assert "Aborted!" in output
    assert fresh.config.read_text() == FRESH_CONFIG
    assert not (fresh.root / "state").exists()


def test_setup_keeps_the_configuration_files_owner_and_mode(fresh):
    # The package's file is root:mailsuite 0640: the daemons read it through the
    # group, so the rewritten file must keep both.
    group = 4242 if os.geteuid() == 0 else os.getegid()
    os.chown(fresh.config, -1, group)
    os.chmod(fresh.config, 0o640)
    assert run_setup(fresh, "--hostname", "mail.example.test", "--admin",
                     "admin@example.test", "--yes").returncode == 0
    status = fresh.config.stat()
    assert (status.st_gid, status.st_mode & 0o7777) == (group, 0o640)
    assert config.load(fresh.config).server.hostname == "mail.example.test"
