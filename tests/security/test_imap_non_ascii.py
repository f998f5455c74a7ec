"""A non-ASCII byte inside [...] is a BAD.

The tokenizer let any byte through inside the brackets of an atom (they hold a
FETCH section) and then decoded it as U+FFFD, which the typed helpers could not
encode: `SELECT i[\\xff]nbox` and `FETCH 1 BODY[HEADER.FIELDS (é)]` were answered
`NO [SERVERBUG]` with a traceback in the log. Inside brackets only printable ASCII
is allowed now, and the section parser refuses anything else.
"""

import pytest

from rawimap import RawImap


@pytest.fixture
def raw(imap):
    client = RawImap(imap.port("imap"))
    client.login()
    client.command("SELECT INBOX")
    yield client
    client.close()


@pytest.mark.parametrize("command", [
    b"SELECT i[\xff]nbox",
    "FETCH 1 BODY[HEADER.FIELDS (é)]".encode(),
    b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (\"\xc3\xa9\")])",
    b"FETCH 1 BODY[\x01]",
    b"STORE 1 +FLAGS (a[\x7f])",
    b'LIST "" x[\xe2\x82\xac]',
])
def test_non_ascii_or_control_inside_brackets_is_bad(raw, command):
    tagged, _ = raw.command(command)
    assert tagged.startswith(b"t1 BAD"), tagged
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")

