"""core.config: defaults, path resolution, and the refusal of bad files.

tests/unit/bad_configs/ holds one bad file per case. Its first line is
"# expect: <text>", the exact text the error message must contain (file name and
line included); an optional "# xfail: <why>" line marks a known bug, strictly, so
the case fails loudly once the bug is fixed and the line can go.
"""

import os
import socket
from pathlib import Path

import pytest

from mailsuite import dev
from mailsuite.core import config
from mailsuite.core.config import ConfigError

BAD = Path(__file__).parent / "bad_configs"


def _bad_cases():
    cases = []
    for path in sorted(BAD.glob("*.toml")):
        header = path.read_bytes().decode("ascii", "replace").splitlines()
        expect = header[0].removeprefix("# expect: ")
        xfail = [line.removeprefix("# xfail: ") for line in header[1:2]
                 if line.startswith("# xfail: ")]
        marks = [pytest.mark.xfail(reason=xfail[0], strict=True)] if xfail else []
        cases.append(pytest.param(path, expect, marks=marks, id=path.stem))
    return cases


@pytest.mark.parametrize("path, expect", _bad_cases())
def test_bad_config(path, expect):
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert expect in str(info.value)


def test_every_bad_config_states_its_error():
    files = sorted(BAD.glob("*.toml"))
    assert len(files) >= 15
    for path in files:
        assert path.read_bytes().startswith(b"# expect: "), path.name


def write(tmp_path, text, name="mailsuite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


MINIMAL = '[server]\nhostname = "mx.example.test"\n'


def test_defaults(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL))
    assert cfg.server.hostname == "mx.example.test"
    for opt in config.SCHEMA:
        if not opt.required and not callable(opt.default):
            assert getattr(getattr(cfg, opt.section), opt.key) == opt.default, opt.key
    assert cfg.state_dir == Path("/var/lib/mailsuite")
    assert cfg.runtime_dir == Path("/run/mailsuite")
    assert cfg.state_path("accounts") == Path("/var/lib/mailsuite/accounts")


def test_values_are_read(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL + (
        'idle_exit = 0\nlog_level = "debug"\n'
        '[smtpd]\nmax_message_size = 1024\n[imapd]\nplaintext_loopback = true\n')))
    assert cfg.server.idle_exit == 0
    assert cfg.server.log_level == "debug"
    assert cfg.smtpd.max_message_size == 1024
    assert cfg.imapd.plaintext_loopback is True


def test_relative_paths_are_resolved_against_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "inst"
    folder.mkdir()
    path = write(folder, MINIMAL + 'state_dir = "state"\nruntime_dir = "../run"\n'
                 '[tls]\ncert = "tls/cert.pem"\nkey = "/etc/key.pem"\n')
    # From elsewhere, and with a relative path to the file itself.
    monkeypatch.chdir(tmp_path)
    cfg = config.load("inst/mailsuite.toml")
    assert cfg.state_dir == folder.resolve() / "state"
    assert cfg.runtime_dir.resolve() == (tmp_path / "run").resolve()
    assert Path(cfg.tls.cert) == folder.resolve() / "tls/cert.pem"
    assert cfg.tls.key == "/etc/key.pem"
    assert cfg.path == Path("inst/mailsuite.toml")
    assert path.exists()


def test_config_path(monkeypatch):
    monkeypatch.delenv("MAILSUITE_CONFIG", raising=False)
    assert config.config_path() == config.DEFAULT_PATH
    monkeypatch.setenv("MAILSUITE_CONFIG", "/srv/m.toml")
    assert config.config_path() == "/srv/m.toml"
    assert config.config_path("/explicit.toml") == "/explicit.toml"


def test_load_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILSUITE_CONFIG", os.fspath(write(tmp_path, MINIMAL)))
    assert config.load().server.hostname == "mx.example.test"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: cannot read: No such file"):
        config.load(tmp_path / "missing.toml")


def test_unknown_key_names_key_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "\n[smtpd]\nmax_size = 10\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == f"{path}:5: smtpd.max_size: unknown key"


def test_wrong_type_names_key_and_line(tmp_path):
    path = write(tmp_path, MINIMAL + "idle_exit = [1]\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == f"{path}:3: server.idle_exit: expected an integer, got [1]"


def test_sample_is_a_valid_config_naming_every_key(tmp_path):
    text = config.sample()
    for opt in config.SCHEMA:
        assert f"{opt.key} = " in text, opt.key
    cfg = config.load(write(tmp_path, text))
    assert cfg.smtpd.max_recipients == 100


def test_sample_sets_nothing(tmp_path):
    # A conffile that sets no key keeps every default, the next release's too.
    for line in config.sample().splitlines():
        assert not line or line.startswith(("#", "[")), line


def test_hostname_defaults_to_the_machine_name(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "mx.example.test")
    assert config.load(write(tmp_path, "")).server.hostname == "mx.example.test"


def test_a_bare_machine_name_is_qualified_by_the_resolver(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "mx")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "mx.example.test.", ("127.0.1.1", 0))])
    assert config.load(write(tmp_path, "")).server.hostname == "mx.example.test"


def test_an_unusable_machine_name_asks_for_hostname(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "bad_name")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])
    path = write(tmp_path, "[server]\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(
        f"{path}: server.hostname: not set, and the default, the machine's fully "
        "qualified name (`hostname --fqdn`), is unusable: 'bad_name'; set it")


def test_dev_config_loads(tmp_path):
    cfg = config.load(write(tmp_path, dev.dev_config()))
    assert cfg.state_dir == tmp_path.resolve() / "state"
    assert cfg.imapd.plaintext_loopback is True
    assert cfg.server.idle_exit == 0


def test_submitd_has_its_own_engine_limits(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL + (
        '[submitd]\nmax_sessions = 7\nrelay_networks = ["192.0.2.0/24", "::1/128"]\n')))
    assert cfg.submitd.max_sessions == 7
    assert cfg.smtpd.max_sessions == 500
    assert cfg.submitd.relay_networks == ("192.0.2.0/24", "::1/128")
    assert cfg.submitd.max_message_size == cfg.smtpd.max_message_size
