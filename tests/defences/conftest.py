"""Fixtures for smtpd's defences: one MX per test module (smtpd and deliverd,
with demo@example.test), its log checked when the module is done (no traceback,
no line over 2 KiB: tests/security/checks.py)."""

import pytest

from harness import Instance
from security.checks import PASSWORD, USER, assert_clean_log


def start_mx(base, config="", programs=("smtpd", "deliverd")):
    """An Instance with USER, its configuration extended by `config`, serving
    `programs`."""
    inst = Instance(base)
    inst.add_config(config)
    inst.add_user(USER, PASSWORD)
    inst.start(*programs)
    return inst


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    inst = start_mx(tmp_path_factory.mktemp("mx"))
    yield inst
    inst.close()
    for program in ("smtpd", "deliverd"):
        assert_clean_log(inst, program)
