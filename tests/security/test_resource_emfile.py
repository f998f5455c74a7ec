"""Out of file descriptors (EMFILE), a daemon pauses accepting and says so in one
log line, with no traceback; once clients leave, it serves again.

asyncio's own accept loop logged every failed accept() with a traceback (the
review measured 10 MB of log in 6 s).
"""

import pytest

from checks import PASSWORD, USER, assert_clean_log
from crowd import Crowd, imap_dialog, own_file_limit, smtp_transaction
from harness import wait_for

FILE_LIMIT = 64         # the daemon's RLIMIT_NOFILE: a few dozen sessions fit
CROWD = 150             # connections: well beyond what the limit lets it accept


def accept_lines(log):
    return [line for line in log.splitlines() if "accept" in line]


@pytest.fixture(autouse=True)
def descriptors():
    with own_file_limit(CROWD + 1024):
        yield


@pytest.mark.parametrize("program, port_name, client", [
    ("smtpd", "smtp", smtp_transaction),
    ("imapd", "imap", imap_dialog),
])
def test_out_of_descriptors(instance, program, port_name, client):
    instance.add_user(USER, PASSWORD)
    instance.start(program, file_limit=FILE_LIMIT)
    port = instance.port(port_name)
    with Crowd() as crowd:
        crowd.connect(port, CROWD, per_address=1)
        assert wait_for(lambda: accept_lines(instance.log(program)), timeout=20), \
            instance.log(program)[-2000:]
    # Every connection is gone: the ones the daemon serves end, the ones that
    # waited in the listen queue are accepted and end; then the client is served.
    client(port)
    log = instance.log(program)
    lines = accept_lines(log)
    assert len(lines) == 1, lines[:5]
    assert "Too many open files" in lines[0]
    # At most three lines per connection (connect, lost connection, disconnect,
    # as Postfix logs them), and the client's.
    assert len(log.splitlines()) <= 3 * CROWD + 10, log[-2000:]
    assert_clean_log(instance, program)
