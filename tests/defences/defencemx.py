"""The MX the defences' tests start: smtpd and deliverd with one user."""

from harness import Instance
from security.checks import PASSWORD, USER


def start_mx(base, config="", programs=("smtpd", "deliverd")):
    """An Instance with USER, its configuration extended by `config`, serving
    `programs`."""
    inst = Instance(base)
    inst.add_config(config)
    inst.add_user(USER, PASSWORD)
    inst.start(*programs)
    return inst
