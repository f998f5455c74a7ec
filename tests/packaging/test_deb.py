"""The Debian package: lintian, what it installs and where, man pages that render,
the conffile, the programs run from the installed files, the bash completion and
the maintainer scripts."""

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from debpkg import DAEMONS, ROOT, UNITS, build, unpack
from mailsuite.core import config

PAGES = ["man5/mailsuite.toml.5.gz", "man7/mailsuite.7.gz", "man8/mailctl.8.gz"] + \
    [f"man8/mail-{daemon}.8.gz" for daemon in DAEMONS]


def test_lintian_reports_no_error_and_no_warning(deb):
    proc = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb)],
                          capture_output=True, text=True, timeout=600)
    complaints = [line for line in proc.stdout.splitlines()
                  if line.startswith(("E:", "W:"))]
    assert complaints == [] and proc.returncode == 0, proc.stdout + proc.stderr


def test_files_are_where_debian_and_systemd_look(pkgroot):
    for daemon in DAEMONS:
        assert os.access(pkgroot / f"usr/libexec/mailsuite/mail-{daemon}", os.X_OK)
    assert os.access(pkgroot / "usr/sbin/mailctl", os.X_OK)
    for unit in UNITS:
        assert (pkgroot / "lib/systemd/system" / unit).read_bytes() == \
            (ROOT / "systemd" / unit).read_bytes()
    assert (pkgroot / "usr/lib/sysusers.d/mailsuite.conf").is_file()
    assert (pkgroot / "usr/lib/tmpfiles.d/mailsuite.conf").is_file()
    assert (pkgroot / "usr/lib/python3/dist-packages/mailsuite/__init__.py").is_file()
    assert (pkgroot / "usr/share/bash-completion/completions/mailctl").is_file()
    for page in PAGES:
        assert (pkgroot / "usr/share/man" / page).is_file(), page
    # State is made by tmpfiles.d, owned by mailsuite: never shipped root-owned.
    assert not (pkgroot / "var").exists()


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders_without_warnings(pkgroot, page):
    path = pkgroot / "usr/share/man" / page
    env = dict(os.environ, MANROFFSEQ="", MANWIDTH="80")
    proc = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    name = Path(page).name.removesuffix(".gz").rsplit(".", 1)[0]
    assert name.upper() in proc.stdout.splitlines()[0]
    assert "@VERSION@" not in proc.stdout and "@DATE@" not in proc.stdout


def test_units_document_pages_the_package_has(pkgroot):
    for unit in UNITS:
        for line in (ROOT / "systemd" / unit).read_text().splitlines():
            if line.startswith("Documentation=man:"):
                name, section = line.removeprefix("Documentation=man:") \
                    .removesuffix(")").split("(")
                assert (pkgroot / f"usr/share/man/man{section}/{name}.{section}.gz") \
                    .is_file(), line


def test_mailctl_page_lists_every_command(pkgroot):
    text = gzip.decompress((pkgroot / "usr/share/man/man8/mailctl.8.gz").read_bytes())
    for command in ("domain add", "user add", "alias add", "tls self\\-signed"):
        assert f".SS {command}".encode() in text, command


def test_conffile_is_the_documented_sample(pkgroot, control):
    assert (control / "conffiles").read_text().split() == ["/etc/mailsuite/mailsuite.toml"]
    path = pkgroot / "etc/mailsuite/mailsuite.toml"
    assert path.read_text() == config.sample()
    cfg = config.load(path)
    assert cfg.state_dir == Path("/var/lib/mailsuite")
    assert cfg.server.hostname == config.machine_hostname()


def run_packaged(pkgroot, program, *args, **kwargs):
    """Run a program of the package on the package's own Python files."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LISTEN_", "PYTHON", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = str(pkgroot / "usr/lib/python3/dist-packages")
    return subprocess.run([str(pkgroot / program), *args], capture_output=True,
                          text=True, env=env, timeout=60, **kwargs)


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_wrapper_starts_the_program(pkgroot, tmp_path, daemon):
    cfg = tmp_path / "mailsuite.toml"
    cfg.write_text(f'[server]\nhostname = "mx.example.test"\nstate_dir = "{tmp_path}"\n')
    proc = run_packaged(pkgroot, f"usr/libexec/mailsuite/mail-{daemon}", "-c", str(cfg),
                        cwd=tmp_path)
    # No sockets handed over: the program says so and exits EX_CONFIG, as it does
    # when systemd's socket unit does not match.
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith(f"mail-{daemon}: no listening sockets"), proc.stderr


def test_mailctl_runs_from_the_package(pkgroot, tmp_path):
    cfg = tmp_path / "mailsuite.toml"
    cfg.write_text(f'[server]\nhostname = "mx.example.test"\nstate_dir = "{tmp_path}"\n')
    proc = run_packaged(pkgroot, "usr/sbin/mailctl", "--version", cwd=tmp_path)
    assert proc.stdout.startswith("mailctl, version "), proc.stderr
    run_packaged(pkgroot, "usr/sbin/mailctl", "-c", str(cfg), "domain", "add",
                 "example.test", cwd=tmp_path, check=True)
    proc = run_packaged(pkgroot, "usr/sbin/mailctl", "-c", str(cfg), "domain", "list",
                        cwd=tmp_path)
    assert proc.stdout == "example.test\n", proc.stderr


def test_bash_completion_completes_commands(pkgroot, tmp_path):
    # The completion script calls `mailctl` back; put the packaged one on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "mailctl"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={pkgroot}/usr/lib/python3/dist-packages '
                    f'exec {pkgroot}/usr/sbin/mailctl "$@"\n')
    shim.chmod(0o755)
    script = (f'source {pkgroot}/usr/share/bash-completion/completions/mailctl\n'
              'COMP_WORDS=(mailctl us); COMP_CWORD=1; _mailctl_completion mailctl\n'
              'echo "${COMPREPLY[@]}"\n'
              'COMP_WORDS=(mailctl tls ""); COMP_CWORD=2; COMPREPLY=()\n'
              '_mailctl_completion mailctl; echo "${COMPREPLY[@]}"\n')
    env = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.stdout.splitlines() == ["user", "self-signed"], proc.stderr


def test_maintainer_scripts(control):
    for script in ("postinst", "prerm", "postrm"):
        subprocess.run(["sh", "-n", str(control / script)], check=True)
    prerm = (control / "prerm").read_text()
    stop = next(line for line in prerm.splitlines() if "deb-systemd-invoke stop" in line)
    assert sorted(stop.split()[2:-3]) == UNITS
    postinst = (control / "postinst").read_text()
    # Nothing is started on installation; running services restart on upgrade.
    assert "deb-systemd-invoke start" not in postinst
    assert "systemctl enable" not in postinst
    assert "deb-systemd-invoke try-restart" in postinst
    assert "mailctl tls self-signed --if-missing" in postinst
    assert "systemd-sysusers" in postinst


def test_lower_version_builds_from_the_same_tree(tmp_path):
    # The upgrade test installs this one first, then the current one.
    deb = build("0.0.1-1")
    assert deb.name == "mailsuite_0.0.1-1_all.deb"
    proc = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "0.0.1-1"
    root = unpack(deb, tmp_path / "root")
    assert (root / "usr/sbin/mailctl").is_file()
