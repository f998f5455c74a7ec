"""mailctl: every command, run as the real program in a subprocess, bad input included.

Exit statuses: 0 done, 1 refused ("mailctl: <message>" on stderr), 2 usage,
78 configuration.
"""

import os
import pty
import select
import subprocess
import time

import pytest

from harness import ROOT
from mailsuite import dev
from mailsuite.core.accounts import Accounts

OK, ERROR, USAGE, CONFIG = 0, 1, 2, 78


@pytest.fixture
def inst(instance):
    instance.mailctl("domain", "add", "example.test")
    return instance


@pytest.fixture
def acc(inst):
    """The instance's accounts, read directly, as a daemon would."""
    with Accounts(inst.state) as opened:
        yield opened


def refused(inst, *args, input=None, status=ERROR, message=None):
    """Run mailctl expecting failure; return its stderr."""
    proc = inst.mailctl(*args, input=input, check=False)
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    if message is not None:
        assert proc.stderr == f"mailctl: {message}\n"
    return proc.stderr


def lines(proc):
    return proc.stdout.splitlines()


# domain

def test_domain_add_list_remove(inst):
    assert lines(inst.mailctl("domain", "list")) == ["example.test"]
    proc = inst.mailctl("domain", "add", "Other.TEST")
    assert proc.stdout == proc.stderr == ""
    assert lines(inst.mailctl("domain", "list")) == ["example.test", "other.test"]
    inst.mailctl("domain", "remove", "other.test")
    assert lines(inst.mailctl("domain", "list")) == ["example.test"]


def test_domain_list_empty(instance):
    assert instance.mailctl("domain", "list").stdout == ""


def test_domain_bad_input(inst):
    refused(inst, "domain", "add", "example.test",
            message="domain example.test already exists")
    refused(inst, "domain", "add", "not a domain", message="invalid domain: not a domain")
    refused(inst, "domain", "add", "1.2.3.4", message="invalid domain: 1.2.3.4")
    refused(inst, "domain", "remove", "nowhere.test",
            message="unknown domain: nowhere.test")
    refused(inst, "domain", "add", status=USAGE)
    refused(inst, "domain", "frob", "x.test", status=USAGE)


def test_domain_add_with_a_postmaster(inst, acc):
    inst.mailctl("domain", "add", "other.test", "--postmaster", "Boss@Example.test")
    assert acc.aliases("other.test") == [("postmaster@other.test", ["boss@example.test"])]
    # A refused alias leaves no domain behind: the command changes nothing.
    refused(inst, "domain", "add", "third.test", "--postmaster", "not an address",
            message="invalid address: not an address")
    refused(inst, "domain", "add", "third.test", "--postmaster", "postmaster@third.test",
            message="alias postmaster@third.test cannot point to itself")
    assert lines(inst.mailctl("domain", "list")) == ["example.test", "other.test"]


def test_domain_remove_refused_while_in_use(inst):
    inst.add_user("bob@example.test")
    refused(inst, "domain", "remove", "example.test",
            message="domain example.test still has 1 user(s)")
    inst.mailctl("user", "remove", "bob@example.test")
    inst.mailctl("alias", "add", "@example.test", "x@remote.test")
    refused(inst, "domain", "remove", "example.test",
            message="domain example.test still has 1 alias(es)")
    inst.mailctl("alias", "remove", "@example.test")
    inst.mailctl("domain", "remove", "example.test")


# user add

def test_user_add_password_stdin(inst, acc):
    proc = inst.mailctl("user", "add", "--password-stdin", "Bob@Example.test",
                        input="s3cret pass\n")
    assert proc.stdout == ""
    assert acc.verify("bob@example.test", "s3cret pass")
    assert not acc.verify("bob@example.test", "s3cret pass\n")


def test_user_add_password_stdin_without_newline(inst, acc):
    inst.mailctl("user", "add", "--password-stdin", "bob@example.test", input="pw")
    assert acc.verify("bob@example.test", "pw")


def test_user_add_password_stdin_empty(inst, acc):
    refused(inst, "user", "add", "--password-stdin", "bob@example.test", input="",
            message="no password on standard input")
    refused(inst, "user", "add", "--password-stdin", "bob@example.test", input="\n",
            message="no password on standard input")
    assert acc.get_user("bob@example.test") is None


def test_user_add_generate(inst, acc):
    proc = inst.mailctl("user", "add", "--generate", "bob@example.test")
    password = proc.stdout.strip()
    assert proc.stdout == password + "\n" and len(password) >= 16
    assert acc.verify("bob@example.test", password)


def test_user_add_generates_when_stdin_is_not_a_terminal(inst, acc):
    password = inst.mailctl("user", "add", "bob@example.test", input="").stdout.strip()
    assert acc.verify("bob@example.test", password)
    other = inst.mailctl("user", "add", "amy@example.test", input="").stdout.strip()
    assert other != password


def test_user_add_prompts_on_a_terminal(inst, acc):
    status, output = run_in_terminal(inst, ["user", "add", "bob@example.test"],
                                     ["typed pass", "typed pass"])
    assert status == OK, output
    assert "Password for bob@example.test" in output
    assert "typed pass" not in output              # not echoed
    assert acc.verify("bob@example.test", "typed pass")


def test_user_add_prompt_needs_matching_confirmation(inst, acc):
    status, output = run_in_terminal(inst, ["user", "add", "bob@example.test"],
                                     ["one", "two", "three", "three"])
    assert status == OK, output
    assert "do not match" in output
    assert acc.verify("bob@example.test", "three")


def test_user_add_quota(inst, acc):
    inst.mailctl("user", "add", "--quota", "1000000", "--generate", "bob@example.test")
    assert acc.get_user("bob@example.test")["quota"] == 1000000
    refused(inst, "user", "add", "--quota", "-1", "--generate", "amy@example.test",
            status=USAGE)
    refused(inst, "user", "add", "--quota", "lots", "--generate", "amy@example.test",
            status=USAGE)


def test_user_quota(inst, acc):
    inst.mailctl("user", "add", "--quota", "2M", "--generate", "bob@example.test")
    assert acc.quota("bob@example.test") == 2 << 20
    for size, expected in (("1500", 1500), ("512k", 512 << 10), ("3G", 3 << 30),
                           ("1T", 1 << 40), ("none", 0), ("0", 0)):
        proc = inst.mailctl("user", "quota", "bob@example.test", size)
        assert proc.stdout == proc.stderr == ""
        assert acc.quota("bob@example.test") == expected, size
    for bad in ("-1", "lots", "1.5G", "2P", ""):
        refused(inst, "user", "quota", "bob@example.test", bad, status=USAGE)
    refused(inst, "user", "quota", "amy@example.test", "1M",
            message="no such user: amy@example.test")


def test_user_add_bad_input(inst, acc):
    inst.add_user("bob@example.test")
    refused(inst, "user", "add", "--generate", "BOB@example.test",
            message="user bob@example.test already exists")
    refused(inst, "user", "add", "--generate", "bob@nowhere.test",
            message="unknown domain: nowhere.test")
    for bad in ("bob", "bob@", "@example.test", "b b@example.test", "a..b@example.test",
                "a/b@example.test", "bob@exa_mple.test", "x" * 65 + "@example.test"):
        refused(inst, "user", "add", "--generate", bad, message=f"invalid address: {bad}")
    refused(inst, "user", "add", "--generate", "--password-stdin", "amy@example.test",
            input="pw\n", status=USAGE)
    refused(inst, "user", "add", status=USAGE)
    refused(inst, "user", "add", "--bogus", "amy@example.test", status=USAGE)
    assert [u["address"] for u in acc.users()] == ["bob@example.test"]


def test_user_add_refuses_before_asking_for_a_password(inst):
    # On a terminal, a doomed add must not prompt first.
    status, output = run_in_terminal(inst, ["user", "add", "bob@nowhere.test"], [])
    assert status == ERROR
    assert "mailctl: unknown domain: nowhere.test" in output
    assert "Password" not in output


# user list, remove

def test_user_list(inst):
    inst.mailctl("domain", "add", "a.test")
    inst.add_user("zed@example.test")
    inst.add_user("amy@example.test")
    inst.add_user("bob@a.test")
    inst.mailctl("user", "add", "--quota", "500", "--generate", "q@a.test")
    inst.mailctl("user", "disable", "zed@example.test")
    assert lines(inst.mailctl("user", "list")) == [
        "bob@a.test", "q@a.test\tquota=500", "amy@example.test",
        "zed@example.test\tdisabled"]
    assert lines(inst.mailctl("user", "list", "a.test")) == [
        "bob@a.test", "q@a.test\tquota=500"]
    refused(inst, "user", "list", "bad domain", message="invalid domain: bad domain")


def test_user_list_empty(inst):
    assert inst.mailctl("user", "list").stdout == ""


def test_user_remove(inst, acc):
    inst.add_user("bob@example.test")
    inst.mailctl("user", "remove", "BOB@example.test")
    assert acc.get_user("bob@example.test") is None
    refused(inst, "user", "remove", "bob@example.test",
            message="no such user: bob@example.test")
    refused(inst, "user", "remove", "not-an-address",
            message="invalid address: not-an-address")
    refused(inst, "user", "remove", status=USAGE)


# user passwd, disable, enable

def test_user_passwd(inst, acc):
    inst.add_user("bob@example.test", "old password")
    inst.mailctl("user", "passwd", "--password-stdin", "bob@example.test",
                 input="new password\n")
    assert acc.verify("bob@example.test", "new password")
    assert not acc.verify("bob@example.test", "old password")
    generated = inst.mailctl("user", "passwd", "--generate", "bob@example.test")
    assert acc.verify("bob@example.test", generated.stdout.strip())


def test_user_passwd_on_a_terminal(inst, acc):
    inst.add_user("bob@example.test", "old password")
    status, output = run_in_terminal(inst, ["user", "passwd", "bob@example.test"],
                                     ["fresh", "fresh"])
    assert status == OK, output
    assert acc.verify("bob@example.test", "fresh")


def test_user_passwd_bad_input(inst):
    refused(inst, "user", "passwd", "--password-stdin", "bob@example.test",
            input="pw\n", message="no such user: bob@example.test")
    refused(inst, "user", "passwd", "--generate", "bad address",
            message="invalid address: bad address")
    inst.add_user("bob@example.test")
    refused(inst, "user", "passwd", "--password-stdin", "bob@example.test", input="",
            message="no password on standard input")
    refused(inst, "user", "passwd", status=USAGE)


def test_user_disable_enable(inst, acc):
    inst.add_user("bob@example.test", "pw")
    inst.mailctl("user", "disable", "bob@example.test")
    assert acc.get_user("bob@example.test")["enabled"] is False
    assert not acc.verify("bob@example.test", "pw")
    inst.mailctl("user", "disable", "bob@example.test")      # already: still fine
    inst.mailctl("user", "enable", "Bob@example.test")
    assert acc.verify("bob@example.test", "pw")


def test_user_disable_enable_bad_input(inst):
    for command in ("disable", "enable"):
        refused(inst, "user", command, "nobody@example.test",
                message="no such user: nobody@example.test")
        refused(inst, "user", command, "bad", message="invalid address: bad")
        refused(inst, "user", command, status=USAGE)


# alias

def test_alias_add_list_remove(inst, acc):
    inst.add_user("bob@example.test")
    inst.mailctl("alias", "add", "Info@example.test", "bob@example.test",
                 "Someone@Remote.test")
    inst.mailctl("alias", "add", "@example.test", "bob@example.test")
    assert lines(inst.mailctl("alias", "list")) == [
        "@example.test -> bob@example.test",
        "info@example.test -> bob@example.test, someone@remote.test"]
    assert acc.resolve("info@example.test") == ["bob@example.test",
                                                "someone@remote.test"]
    assert acc.resolve("anyone@example.test") == ["bob@example.test"]
    inst.mailctl("alias", "remove", "info@example.test")
    inst.mailctl("alias", "remove", "@EXAMPLE.test")
    assert inst.mailctl("alias", "list").stdout == ""
    assert acc.resolve("anyone@example.test") == []


def test_alias_list_by_domain(inst):
    inst.mailctl("domain", "add", "other.test")
    inst.mailctl("alias", "add", "a@example.test", "x@remote.test")
    inst.mailctl("alias", "add", "@other.test", "x@remote.test")
    assert lines(inst.mailctl("alias", "list", "other.test")) == [
        "@other.test -> x@remote.test"]
    refused(inst, "alias", "list", "bad domain", message="invalid domain: bad domain")


def test_alias_bad_input(inst):
    inst.add_user("bob@example.test")
    refused(inst, "alias", "add", "info@nowhere.test", "bob@example.test",
            message="unknown domain: nowhere.test")
    refused(inst, "alias", "add", "@nowhere.test", "bob@example.test",
            message="unknown domain: nowhere.test")
    refused(inst, "alias", "add", "bad source", "bob@example.test",
            message="invalid address: bad source")
    refused(inst, "alias", "add", "info@example.test", "bad target",
            message="invalid address: bad target")
    refused(inst, "alias", "add", "bob@example.test", "x@remote.test",
            message="bob@example.test is a user; an alias would never apply")
    refused(inst, "alias", "add", "info@example.test", status=USAGE)
    inst.mailctl("alias", "add", "info@example.test", "bob@example.test")
    refused(inst, "alias", "add", "info@example.test", "x@remote.test",
            message="alias info@example.test already exists")
    refused(inst, "alias", "remove", "nothing@example.test",
            message="no such alias: nothing@example.test")
    refused(inst, "alias", "remove", "@example.test",
            message="no such alias: @example.test")
    refused(inst, "alias", "remove", status=USAGE)


# configuration and usage

def test_missing_config_is_a_configuration_error(tmp_path):
    proc = run(["-c", os.fspath(tmp_path / "none.toml"), "domain", "list"])
    assert proc.returncode == CONFIG
    assert proc.stderr.startswith("mailctl: ")
    assert "none.toml: cannot read" in proc.stderr


def test_bad_config_is_a_configuration_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nhostname = "mx.example.test"\nbogus = 1\n')
    proc = run(["-c", os.fspath(path), "user", "list"])
    assert proc.returncode == CONFIG
    assert proc.stderr == f"mailctl: {path}:3: server.bogus: unknown key\n"


def test_config_from_environment(instance):
    env = {"MAILSUITE_CONFIG": os.fspath(instance.config)}
    assert run(["domain", "add", "env.test"], env=env).returncode == OK
    assert "env.test" in instance.mailctl("domain", "list").stdout
    # -c wins over the environment.
    env["MAILSUITE_CONFIG"] = "/nonexistent/mailsuite.toml"
    proc = run(["-c", os.fspath(instance.config), "domain", "list"], env=env)
    assert proc.returncode == OK and "env.test" in proc.stdout
    assert run(["domain", "list"], env=env).returncode == CONFIG


@pytest.mark.parametrize("args", [
    ["--help"], ["user", "--help"], ["user", "add", "--help"], ["alias", "-h"],
    ["--version"],
])
def test_help_needs_no_config(tmp_path, args):
    proc = run(["-c", os.fspath(tmp_path / "none.toml"), *args])
    assert proc.returncode == OK, proc.stderr
    assert "mailctl" in proc.stdout


@pytest.mark.parametrize("args", [[], ["domain"], ["user"], ["alias"]])
def test_no_command_shows_help(tmp_path, args):
    proc = run(args, env={"MAILSUITE_CONFIG": os.fspath(tmp_path / "none.toml")})
    # Help (status 0, click 8.1 with no arguments at all) or "Missing command"
    # (status 2); never a refusal or a configuration error.
    assert proc.returncode in (OK, USAGE)
    # click 8.2 (Debian 13) prints that help on stderr with status 2.
    assert "Commands:" in proc.stdout + proc.stderr or "Missing command" in proc.stderr


@pytest.mark.parametrize("args", [
    ["frob"], ["user", "frob"], ["alias", "add"], ["--bogus", "domain"],
    ["domain", "add", "a.test", "b.test"], ["-c"],
])
def test_usage_errors(instance, args):
    proc = instance.mailctl(*args, check=False)
    assert proc.returncode == USAGE, proc.stderr
    assert "Error: " in proc.stderr


def test_bin_wrapper(instance):
    proc = subprocess.run([os.fspath(ROOT / "bin/mailctl"), "-c", os.fspath(instance.config),
                           "domain", "list"], capture_output=True, text=True, timeout=60,
                          cwd="/")
    assert proc.returncode == OK, proc.stderr
    assert os.access(ROOT / "bin/mailctl", os.X_OK)


# helpers

def run(args, env=None):
    """mailctl without the harness's -c, with an environment of our choosing."""
    full_env = dict(os.environ, PYTHONPATH=os.fspath(ROOT))
    full_env.pop("MAILSUITE_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run([dev.PYTHON, "-m", "mailsuite.mailctl", *args],
                          capture_output=True, text=True, env=full_env, timeout=60)


def run_in_terminal(inst, args, answers, timeout=30):
    """Run mailctl on a pseudo-terminal, typing each answer after each prompt.
    Returns (exit status, everything shown)."""
    argv = [dev.PYTHON, "-m", "mailsuite.mailctl", "-c", os.fspath(inst.config), *args]
    env = dict(os.environ, PYTHONPATH=os.fspath(ROOT))
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(dev.PYTHON, argv, env)
        finally:
            os._exit(127)
    output, answers = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:         # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                # click shows "Password:" itself, then getpass turns echo off and
                # writes the final " ": only then may the answer be typed.
                if answers and output.endswith(b": "):
                    os.write(fd, answers.pop(0).encode() + b"\n")
                    output += b"\n"
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
