"""The sender-checks benchmark's code path (tests/bench/authbench.py), with a few
messages and one run, so that `make bench` cannot rot unseen. It asserts no
timing: only that both instances are measured, that the measured messages
passed every check (a bench of failing checks would measure something else),
and that the Postfix reference is measured, after its probe messages showed
its checks run, or is "-" with the reason."""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import authbench  # noqa: E402


@pytest.fixture
def bench_dir():
    """A folder Postfix's daemons (postfix, nobody) can reach, which tmp_path
    (under a 0700 folder) is not."""
    path = Path(tempfile.mkdtemp(prefix="mailsuite-authbench-test."))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_one_small_run_measures_every_instance(bench_dir, capsys):
    args = argparse.Namespace(messages=10, repeat=1, sessions=[2])
    assert authbench.run(bench_dir, args) == []
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("   2 ")]
    assert len(rows) == 1
    cells = rows[0].split("|")
    figures = [float(cell) for part in cells[1:3] for cell in part.split()]
    assert len(figures) == 4 and all(figure > 0 for figure in figures), rows
    postfix = cells[3].strip()
    if postfix == "-":
        assert any(line.startswith("  - postfix: not measured: ") for line in out), out
    else:
        assert float(postfix) > 0 and float(cells[5]) > 0, rows
