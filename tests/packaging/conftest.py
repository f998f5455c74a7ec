"""The Debian package, built once per test session with `make deb`, and its
contents unpacked: the tests read what a user would install."""

import shutil
import subprocess
from pathlib import Path

import pytest

from debpkg import UNITS, build, unpack


@pytest.fixture(scope="session")
def deb():
    return build()


@pytest.fixture(scope="session")
def pkgroot(deb, tmp_path_factory):
    """The package's files, as dpkg would install them, under a temporary root."""
    return unpack(deb, tmp_path_factory.mktemp("pkgroot"))


@pytest.fixture(scope="session")
def control(deb, tmp_path_factory):
    """The package's DEBIAN/ folder: control, conffiles, maintainer scripts."""
    into = tmp_path_factory.mktemp("control") / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", deb, into], check=True)
    return into


@pytest.fixture(scope="session")
def system_root(deb, tmp_path_factory):
    """The package installed over a copy of the host's own units, for
    `systemd-analyze verify --root`: it resolves the dependencies (sysinit.target,
    …) and checks that every ExecStart exists, inside this root."""
    root = unpack(deb, tmp_path_factory.mktemp("sysroot"))
    host_dirs = {Path(units).resolve() for units in
                 ("/lib/systemd/system", "/usr/lib/systemd/system") if Path(units).is_dir()}
    for units in sorted(host_dirs):
        # Never the host's copy of our units (where the package is installed).
        shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True,
                        dirs_exist_ok=True, ignore=shutil.ignore_patterns(*UNITS))
    return root
