"""Fixtures for the tests in a booted Debian 12 container.

`debs` builds the package twice from this tree with `make deb`: at the changelog's
version, and at a lower one (DEB_VERSION) for the upgrade test. `rootfs` is the
cached bookworm tree from tools/container-rootfs, holding everything both packages
depend on, so that they install offline. `boot` starts a container on it with the
packages at /mnt/pkg and this folder at /mnt/tests.

These tests need root (systemd-nspawn, mmdebstrap) and the tools that
tools/install-deps installs; without root they are skipped, with the reason.
"""

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from nspawn import Container
from steps import PKG_DIR, TESTS_DIR

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# Any version below the changelog's: the package as an older release.
OLD_VERSION = "0.0.1-1"


@dataclass
class Debs:
    version: str            # the changelog's version
    old_version: str
    deb: Path               # build/deb/mailsuite_<version>_all.deb
    old_deb: Path
    dir: Path               # a folder holding both, mounted at PKG_DIR

    def inside(self, deb):
        return f"{PKG_DIR}/{deb.name}"


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="container tests need root (systemd-nspawn)")
        for item in items:
            if HERE in item.path.parents:
                item.add_marker(skip)


def build_deb(version=None):
    """`make deb` (with DEB_VERSION); the path of the .deb, its last line of output."""
    argv = ["make", "-s", "deb"] + ([f"DEB_VERSION={version}"] if version else [])
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n" \
                                 f"{proc.stdout}{proc.stderr[-6000:]}"
    return ROOT / proc.stdout.strip().splitlines()[-1]


def deb_version(deb):
    return subprocess.run(["dpkg-deb", "-f", deb, "Version"], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    current = build_deb()
    old = build_deb(OLD_VERSION)
    version, old_version = deb_version(current), deb_version(old)
    assert subprocess.run(["dpkg", "--compare-versions", old_version, "lt",
                           version]).returncode == 0, \
        f"the upgrade test needs {old_version} < {version}"
    folder = tmp_path_factory.mktemp("pkg")
    for deb in (current, old):
        shutil.copy(deb, folder)
    return Debs(version, old_version, folder / current.name, folder / old.name, folder)


@pytest.fixture(scope="session")
def rootfs(debs):
    for tool in ("mmdebstrap", "systemd-nspawn", "nsenter"):
        assert shutil.which(tool), f"{tool} is missing: run tools/install-deps"
    started = time.monotonic()
    proc = subprocess.run([ROOT / "tools/container-rootfs", "--deb", debs.deb,
                           "--deb", debs.old_deb],
                          capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"tools/container-rootfs failed:\n{proc.stderr}"
    print(f"rootfs ready in {time.monotonic() - started:.1f} s: {proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        item.call_failed = report.failed


@pytest.fixture
def boot(request, rootfs, debs, tmp_path):
    """boot() -> a running Container; every container is stopped at the end, and
    if the test failed, the journal of each is printed first."""
    started = []

    def start():
        box = Container(rootfs, tmp_path / f"container{len(started)}",
                        binds={debs.dir: PKG_DIR, HERE: TESTS_DIR})
        started.append(box)
        box.boot()
        print(f"container booted in {box.boot_seconds:.2f} s")
        return box

    yield start
    failed = getattr(request.node, "call_failed", False)
    for box in started:
        try:
            if failed and box.running():
                print(f"the container's journal:\n{box.journal(lines=300)}")
        finally:
            box.stop()
