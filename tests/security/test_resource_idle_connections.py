"""Thousands of idle connections against a daemon started with its packaged unit's
file limit: a normal client is still served at once, and the log stays small
and clean.

Without LimitNOFILE= in the units, systemd's soft limit of 1024 descriptors ran
out near a thousand connections; then every accept() failed with a traceback and
a normal client waited seconds.
"""

import time

import pytest

from checks import assert_clean_log
from crowd import (Crowd, add_user_with_cheap_hash, imap_dialog, own_file_limit,
                   set_keys, smtp_transaction, unit_file_limit)

IDLE = 2000             # idle connections held during the test
PER_ADDRESS = 10        # under both daemons' default per-address limit
SERVED_WITHIN = 0.1     # seconds for the normal client's whole dialog
LOG_BYTES_PER_CONNECTION = 100
# Seconds to open the crowd, and again to read its greetings: together well under
# imapd's 60 s for a client to log in, so that every connection is still held.
CROWD_TIMEOUT = 20


@pytest.fixture(autouse=True)
def descriptors():
    with own_file_limit(IDLE + 1024):
        yield


@pytest.mark.parametrize("program, port_name, greeting, client", [
    ("smtpd", "smtp", b"220 ", smtp_transaction),
    ("imapd", "imap", b"* OK ", imap_dialog),
])
def test_idle_connections(instance, monkeypatch, program, port_name, greeting,
                          client):
    # The crowd is to meet the file limit, not the daemon's session limit.
    set_keys(instance, program, max_sessions=IDLE + 10)
    add_user_with_cheap_hash(instance, monkeypatch)
    instance.start(program, file_limit=unit_file_limit(program))
    port = instance.port(port_name)
    # A first dialog creates what a returning client finds in place (the
    # mailbox and its index, the queue's first pages): not measured.
    client(port)
    with Crowd() as crowd:
        crowd.connect(port, IDLE, PER_ADDRESS, timeout=CROWD_TIMEOUT)
        lines = crowd.greetings(timeout=CROWD_TIMEOUT)
        greeted = sum(line.startswith(greeting) for line in lines)
        assert greeted == IDLE, f"{greeted} of {IDLE} connections greeted"
        started = time.monotonic()
        client(port)
        elapsed = time.monotonic() - started
        log_size = len(instance.log(program).encode())
    assert elapsed < SERVED_WITHIN, f"the client took {elapsed:.3f} s"
    assert log_size <= LOG_BYTES_PER_CONNECTION * (IDLE + 10), log_size
    assert_clean_log(instance, program)
