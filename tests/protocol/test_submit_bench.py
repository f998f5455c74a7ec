"""The submission bench's code path (tests/bench/submitbench.py) against submitd
only, on a handful of messages, so that `make bench` cannot rot unseen. No
Postfix and no timing asserted: only that each message is submitted, signed as
the figure's label says, and that a refusal is a problem, not a figure."""

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import submitbench  # noqa: E402
from submitservers import OursSubmit  # noqa: E402

from mailsuite.core.spool import Spool  # noqa: E402

COUNT = 6


def signatures(server):
    """The DKIM-Signature algorithms of every queued message."""
    with Spool(server.inst.state) as spool:
        return [[line.split(b"a=")[1].split(b";")[0] for line in
                 spool.load(entry.qid).split(b"\r\n\r\n")[0].split(b"\r\n")
                 if line.startswith(b"DKIM-Signature:")]
                for entry in spool.entries()]


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    server = OursSubmit(tmp_path_factory.mktemp("submitbench"), sign=True)
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def test_a_run_submits_and_signs_every_message(signing, capsys):
    rates, ratios = submitbench.measure({signing.name: signing}, COUNT, 3, repeat=1)
    assert isinstance(rates[signing.name], float) and rates[signing.name] > 0
    assert ratios == {}
    found = signatures(signing)
    assert len(found) == COUNT
    assert all(sorted(s) == [b"ed25519-sha256", b"rsa-sha256"] for s in found), found
    submitbench.report(COUNT, 3, rates, ratios)
    assert f"{signing.name:<18}    3     {COUNT} |" in capsys.readouterr().out


def test_a_refused_login_is_a_problem_not_a_figure(signing):
    with pytest.raises(submitbench.Refused, match="^535"):
        asyncio.run(submitbench.load(signing.port, 1, 1, password="wrong"))


def test_the_unsigned_figure_measures_unsigned_mail(tmp_path):
    server = OursSubmit(tmp_path, sign=False)
    try:
        assert isinstance(submitbench.run_point(server, 2, 2), float)
        assert signatures(server) == [[], []]
    finally:
        server.stop()
