import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from harness import Instance  # noqa: E402

DEB_TESTS = ("tests/container/", "tests/packaging/")


# Before pytest-xdist's own hook, which reads the marks to group the tests.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With several workers (pytest-xdist, `--dist loadgroup`), a module's tests
    stay on one worker, so its module fixtures (a Knot, a Postfix, a daemon)
    start once; the tests of the Debian package share one worker and the package
    built once."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "deb" if path.startswith(DEB_TESTS) else path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def instance(tmp_path):
    """A configured instance with the domain example.test; no daemon started."""
    inst = Instance(tmp_path / "inst")
    yield inst
    inst.close()
