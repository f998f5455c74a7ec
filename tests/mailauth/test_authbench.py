"""The sender-checks benchmark's code path (tests/bench/authbench.py), with a few
messages and one run, so that `make bench` cannot rot unseen. It asserts no
timing: only that both instances are measured, and that the measured messages
passed every check (a bench of failing checks would measure something else)."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import authbench  # noqa: E402


def test_one_small_run_measures_both_instances(tmp_path, capsys):
    args = argparse.Namespace(messages=10, repeat=1, sessions=[2])
    assert authbench.run(tmp_path, args) == []
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("   2 ")]
    assert len(rows) == 1
    figures = [float(cell) for part in rows[0].split("|")[1:3] for cell in part.split()]
    assert len(figures) == 4 and all(figure > 0 for figure in figures), rows
