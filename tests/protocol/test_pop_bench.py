"""The POP3 benchmark's code path (tests/bench/popbench.py) against our pop3d only,
on a tiny generated mailbox and one run, so that `make bench` cannot rot unseen.
It needs no Dovecot and asserts no timing: only that every operation is
measured and reported, and that a wrong answer is a problem, not a figure."""

import math
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import maildirgen  # noqa: E402
import popbench  # noqa: E402

COUNT = 60


@pytest.fixture
def ours(tmp_path):
    maildirgen.generate(tmp_path / "mail", COUNT)
    server = popbench.Ours(tmp_path / "ours",
                           [popbench.USER._replace(source=tmp_path / "mail")])
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def test_one_run_measures_every_operation(ours, capsys):
    samples, problems = popbench.measure({"mailsuite": ours}, popbench.USER, COUNT,
                                         runs=1, deadline=math.inf)
    assert problems == []
    figures = samples["mailsuite"][0]
    assert set(figures) == {op.key for op in popbench.OPS}
    assert all(value > 0 for value in figures.values()), figures
    popbench.report(COUNT, samples, runs=1)
    table = capsys.readouterr().out
    for op in popbench.OPS:
        assert op.label in table


def test_a_wrong_answer_is_a_problem_not_a_figure(ours):
    samples, problems = popbench.measure({"mailsuite": ours}, popbench.USER, COUNT + 1,
                                         runs=1, deadline=math.inf)
    assert samples["mailsuite"] == [{}]
    assert len(problems) == 2 and f"expected {COUNT + 1}" in problems[0]


def test_dovecot_is_configured_for_pop3_with_our_uidl_format(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the private Dovecot's files belong to nobody: needs root")
    server = popbench.DovecotPop.__new__(popbench.DovecotPop)
    server.base, server.port = tmp_path / "dovecot", 1110
    server._configure([])
    config = (server.base / "dovecot.conf").read_text()
    assert "protocols = pop3\n" in config and "imap-login" not in config
    assert "pop3_uidl_format = %08Xu%08Xv" in config
    assert "port = 1110" in config and f"base_dir = {server.base}/run" in config
