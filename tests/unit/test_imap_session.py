"""mailsuite.imapd.Session.execute, in-process: what an internal error answers
and logs (a traceback means a bug; no log line may pass 2 KiB whatever the input)."""

import asyncio
import logging
from types import SimpleNamespace

import pytest

from mailsuite import imapd

MAX_LOG_LINE = 2048


@pytest.fixture
def session():
    stream = SimpleNamespace(peer=("127.0.0.1", 40000), tls=False)
    return imapd.Session(SimpleNamespace(cfg=SimpleNamespace(), mail=None), stream,
                         "imap")


def run(session, data):
    asyncio.run(session.execute(data))
    reply = bytes(session.out)
    session.out.clear()
    return reply


def logged_lines(caplog):
    return [line for record in caplog.records
            for line in caplog.handler.format(record).splitlines()]


def test_an_exception_quoting_client_input_logs_bounded_lines(session, caplog,
                                                             monkeypatch):
    async def verb(s, cmd):
        raise OSError(36, "File name too long", "/mail/." + "n" * 100000 + "\r\nx")
    monkeypatch.setitem(imapd.COMMANDS, "FROB", (verb, imapd.ANY))
    caplog.set_level(logging.ERROR, "imapd")
    assert run(session, b"t1 FROB " + b"n" * 100000) == \
        b"t1 NO [SERVERBUG] internal server error\r\n"
    lines = logged_lines(caplog)
    assert any("Traceback" in line for line in lines)
    assert any("OSError" in line for line in lines)
    assert max(len(line.encode()) for line in lines) <= MAX_LOG_LINE
    assert all(line.isprintable() for line in lines)
    assert session.bad == 0


def test_a_failure_inside_the_parser_is_answered_with_the_tag(session, monkeypatch):
    def broken(data):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(imapd, "parse_command", broken)
    assert run(session, b"a7 NOOP").startswith(b"a7 NO [SERVERBUG]")
    assert run(session, b"(bad NOOP").startswith(b"* NO [SERVERBUG]")
