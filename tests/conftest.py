import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from harness import Instance  # noqa: E402


@pytest.fixture
def instance(tmp_path):
    """A configured instance with the domain example.test; no daemon started."""
    inst = Instance(tmp_path / "inst")
    yield inst
    inst.close()
