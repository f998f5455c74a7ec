"""SMTP smuggling (CVE-2023-51764 and relatives): a message whose data carries
a non-standard end-of-data sequence followed by a second transaction must be
taken as ONE message, whatever the variant."""

import pytest

from harness import wait_for
from smtpclient import Raw

SMUGGLED = (b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<demo@example.test>\r\n"
            b"DATA\r\nFrom: admin@example.test\r\nSubject: smuggled\r\n\r\nevil\r\n")

VARIANTS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r.\r",
    b"\n.\r",
    b"\r\n\x00.\r\n",
]


@pytest.mark.parametrize("ending", VARIANTS, ids=[repr(v) for v in VARIANTS])
def test_smuggling_yields_one_message(mx, ending):
    raw = Raw(mx.port("smtp"))
    assert raw.begin_data(sender="a@sender.test") == 354
    raw.send(b"From: a@sender.test\r\nSubject: outer\r\n\r\nhello" + ending + SMUGGLED)
    code, lines = raw.cmd(".")
    assert code == 250, lines
    # Nothing more is waiting: the smuggled commands were data, not commands.
    assert raw.cmd("NOOP") == (250, ["250 2.0.0 Ok"])
    assert raw.cmd("QUIT")[0] == 221
    files = wait_for(lambda: mx.inbox_files())
    wait_for(lambda: len(mx.inbox_files()) > 1, timeout=1.0)
    assert len(mx.inbox_files()) == 1
    content = files[0].read_bytes()
    assert b"Subject: outer" in content and b"Subject: smuggled" in content
    # Stored with CRLF line ends only.
    assert content.count(b"\n") == content.count(b"\r\n")
    assert content.count(b"\r") == content.count(b"\r\n")
