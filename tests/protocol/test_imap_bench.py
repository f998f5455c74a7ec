"""The IMAP benchmark's code path (tests/bench/imap*.py) against our imapd only, on
a tiny generated mailbox and one run, so that `make bench` cannot rot unseen. It
needs no Dovecot and asserts no timing: only that every operation is measured, that
a wrong answer is caught, and that the generated mail is what the bench says."""

import email
import math
import re
import sys
from email import policy
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import imapbench  # noqa: E402
import imapservers  # noqa: E402
import maildirgen  # noqa: E402
from imapops import Plan  # noqa: E402

COUNT = 40


@pytest.fixture
def ours(tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    maildirgen.generate(big, COUNT)
    maildirgen.generate(small, 3, seed=2)
    server = imapservers.Ours(tmp_path / "ours", [
        imapservers.Mailbox(imapbench.USER.address, imapbench.USER.password, big),
        imapservers.Mailbox(imapbench.OTHER.address, imapbench.OTHER.password, small)])
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def measure(server, count):
    plan = Plan(imapbench.USER, count, imapbench.OTHER,
                imapbench.structure_served(server, imapbench.USER))
    return imapbench.measure({"mailsuite": server}, plan, runs=1, cold_runs=1,
                             deadline=math.inf)


def test_one_run_measures_every_operation(ours, capsys):
    samples, problems = measure(ours, COUNT)
    assert problems == []
    figures = samples["mailsuite"][0]
    assert set(figures) == {op.key for op in imapbench.OPS}
    # The cold SELECT of a tiny mailbox may answer before the other LOGIN starts.
    measured = {key: value for key, value in figures.items() if key != "login_busy"}
    assert all(value > 0 for value in measured.values()), figures
    imapbench.report(COUNT, samples, runs=1, cold_runs=1)
    table = capsys.readouterr().out
    for op in imapbench.OPS:
        assert op.label in table


def test_a_wrong_answer_is_a_problem_not_a_figure(ours):
    samples, problems = measure(ours, COUNT + 1)
    assert samples["mailsuite"] == [{}]
    assert len(problems) == 1 and f"expected {COUNT + 1}" in problems[0]


def test_generated_mail_is_deterministic_and_varied(tmp_path):
    first, again = list(maildirgen.messages(300)), list(maildirgen.messages(300))
    assert first == again
    assert list(maildirgen.messages(300, seed=2)) != first
    infos = {m.name.partition(":")[2] for m in first}
    assert {"", "2,S", "2,FS"} <= infos
    assert {m.subdir for m in first if not m.name.partition(":")[2]} == {"new"}
    sizes = [len(m.data) for m in first]
    assert 1024 <= min(sizes) and max(sizes) <= 50 * 1024
    assert any(b"\r\n" not in m.data for m in first)
    assert any(b"multipart/" in m.data for m in first)
    assert any(b"=?UTF-8?B?" in re.split(rb"\r?\n\r?\n", m.data)[0] for m in first)
    for message in first[:50]:
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        assert parsed["Message-ID"] and parsed["Date"] and parsed.get_body()


def test_generated_files_carry_the_internal_date(tmp_path):
    maildirgen.generate(tmp_path, 30)
    files = [p for sub in ("new", "cur") for p in (tmp_path / sub).iterdir()]
    assert len(files) == 30
    for path in files:
        assert int(path.stat().st_mtime) == int(path.name.split(".")[0])


def test_dovecot_gets_our_kind_of_password_hash():
    # libsodium (Dovecot's ARGON2ID scheme) reads the encoded argon2id form.
    assert imapservers._hash("a password").startswith("$argon2id$v=19$")
