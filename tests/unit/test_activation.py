"""core.activation: sockets handed over in LISTEN_FDS/LISTEN_FDNAMES, as systemd
does (sd_listen_fds(3)), run in a child process so fds 3… are free."""

import os
import socket
import subprocess
import sys

import pytest

from mailsuite import dev
from mailsuite.core import activation

CHILD = """
import sys
sys.path.insert(0, {root!r})
from mailsuite.core import activation
socks = activation.listen_sockets()
print([(name, s.getsockname()[1], s.type.name) for name, s in socks])
import os
print(os.environ.get("LISTEN_FDS"))
"""


def test_sockets_arrive_named(tmp_path):
    a, b = dev.bind_tcp(0), dev.bind_tcp(0)
    read, write = os.pipe()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(dev.ROOT)))
    pid = os.fork()
    if pid == 0:
        os.dup2(write, 1)
        os.dup2(a.fileno(), 3)
        os.dup2(b.fileno(), 4)
        env = dict(os.environ, LISTEN_FDS="2", LISTEN_FDNAMES="imap:imaps",
                   LISTEN_PID=str(os.getpid()))
        os.execve(dev.PYTHON, [dev.PYTHON, str(script)], env)
    os.close(write)
    os.waitpid(pid, 0)
    out = os.read(read, 4096).decode().splitlines()
    ports = [a.getsockname()[1], b.getsockname()[1]]
    assert out[0] == str([("imap", ports[0], "SOCK_STREAM"),
                          ("imaps", ports[1], "SOCK_STREAM")])
    assert out[1] == "None"       # unset for children


def test_require_rejects_unknown_names():
    sock = socket.socket()
    try:
        with pytest.raises(activation.ActivationError, match="FileDescriptorName"):
            activation.require([("smtp", sock)], {"imap", "imaps"})
        with pytest.raises(activation.ActivationError, match="no listening sockets"):
            activation.require([], {"imap"})
        activation.require([("imap", sock)], {"imap", "imaps"})
    finally:
        sock.close()


def test_daemon_without_sockets_exits_78(tmp_path):
    cfg = tmp_path / "mailsuite.toml"
    cfg.write_text(dev.dev_config())
    env = dict(os.environ, PYTHONPATH=str(dev.ROOT))
    env.pop("LISTEN_FDS", None)
    proc = subprocess.run([dev.PYTHON, "-m", "mailsuite.smtpd", "-c", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 78
    assert "no listening sockets" in proc.stderr


def test_daemon_with_bad_config_exits_78(tmp_path):
    cfg = tmp_path / "mailsuite.toml"
    cfg.write_text('[server]\nhostname = "x.test"\nidle_exit = "soon"\n')
    env = dict(os.environ, PYTHONPATH=str(dev.ROOT))
    proc = subprocess.run([dev.PYTHON, "-m", "mailsuite.imapd", "-c", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 78
    assert proc.stderr.strip() == (
        f"mail-imapd: {cfg}:3: server.idle_exit: expected an integer, got 'soon'")
