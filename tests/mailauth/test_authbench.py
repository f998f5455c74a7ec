"""The sender-checks benchmark's code path (tests/bench/authbench.py), with a few
messages and one run, so that `make bench` cannot rot unseen. It asserts no
timing: only that both instances are measured, that the measured messages
passed every check (a bench of failing checks would measure something else),
and that the Postfix reference is measured at one session, after its probe
messages showed its checks run, or is "-" with the reason."""

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
    args = argparse.Namespace(messages=10, repeat=1, sessions=[1, 2])
    assert authbench.run(bench_dir, args) == []
    out = capsys.readouterr().out.splitlines()
    rows = {sessions: line.split("|") for sessions in (1, 2) for line in out
            if line.startswith(f"{sessions:>4} ")}
    assert len(rows) == 2, out
    for cells in rows.values():
        figures = [float(cell) for part in cells[1:3] for cell in part.split()]
        assert len(figures) == 4 and all(figure > 0 for figure in figures), cells
    # Postfix: one session only (authservers.ONE_SESSION), or "-" with the reason.
    assert rows[2][3].strip() == "-"
    if rows[1][3].strip() == "-":
        assert any(line.startswith("  - postfix: not measured: ") for line in out), out
    else:
        assert float(rows[1][3]) > 0 and float(rows[1][5]) > 0, rows[1]
        assert any(line.startswith("  - postfix: measured at 1 session only: ")
                   for line in out), out
