"""Fixtures for smtpd's defences: one MX per test module (smtpd and deliverd,
with demo@example.test), its log checked when the module is done (no traceback,
no line over 2 KiB: tests/security/checks.py)."""

import pytest

from defencemx import start_mx
from security.checks import assert_clean_log


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    inst = start_mx(tmp_path_factory.mktemp("mx"))
    yield inst
    inst.close()
    for program in ("smtpd", "deliverd"):
        assert_clean_log(inst, program)
