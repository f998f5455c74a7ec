"""Fuzzing the IMAP command parser in-process: read_command, parse_command,
tokenize and every typed helper. Whatever the bytes, the only exception that may
come out is a ProtocolError (answered BAD or NO), a line too long, or the end of
the stream; and a command whose tag is readable gets a Bad that carries it."""

import asyncio

from hypothesis import given, settings, strategies as st

from imapfuzz import TAG, commands
from mailsuite.core.stream import LineTooLong, Stream, StreamClosed
from mailsuite.imapd import fetch, parser, utf7
from mailsuite.imapd.errors import Bad, ProtocolError
from mailsuite.imapd.pattern import compile_pattern

FUZZ = settings(max_examples=400, deadline=None, database=None)
NAMES = ["INBOX", "INBOX/a", "Archive/2024", "a" * 254, ""]


def helpers(token):
    """Run every typed helper on a token; each may only refuse it."""
    checks = [parser.astring, parser.mailbox, parser.atom, parser.number,
              parser.flag, parser.sequence_set, fetch.parse_items,
              lambda t: utf7.decode(parser.mailbox(t)),
              lambda t: [compile_pattern(utf7.decode(parser.list_mailbox(t))).matches(n)
                         for n in NAMES]]
    for check in checks:
        try:
            check(token)
        except ProtocolError:
            pass


def parse_everything(data):
    try:
        cmd = parser.parse_command(data)
    except Bad as exc:
        match = TAG.match(data)
        if match and match.group(1).decode() != exc.tag:
            assert exc.tag is None and b" " not in data[:len(match.group(1)) + 1]
        return
    for token in cmd.args:
        helpers(token)
    try:
        parser.flag_list(cmd.args)
    except ProtocolError:
        pass


@FUZZ
@given(commands())
def test_commands_parse_or_are_refused(command):
    _, line = command
    parse_everything(line)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused(data):
    parse_everything(data)
    try:
        parser.tokenize(data)
    except Bad:
        pass


@FUZZ
@given(st.text(max_size=60))
def test_utf7_decodes_or_refuses(name):
    try:
        assert utf7.decode(utf7.encode(name)) == name
    except UnicodeEncodeError:
        assert any(0xd800 <= ord(c) < 0xe000 for c in name)
    try:
        utf7.decode(name)
    except ProtocolError:
        pass


class Transport:
    def write(self, data):
        pass

    def is_closing(self):
        return False

    def get_extra_info(self, name):
        return None

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def read(chunks, max_literal):
    async def go():
        stream = Stream()
        stream.connection_made(Transport())
        for chunk in chunks:
            stream.data_received(chunk)
        stream.eof_received()

        async def continuation():
            pass
        return await parser.read_command(stream, continuation, max_literal)
    return asyncio.run(go())


@settings(FUZZ, max_examples=150)
@given(st.lists(st.binary(max_size=80) | commands().map(lambda c: c[1] + b"\r\n"),
                max_size=3),
       st.sampled_from([0, 10, parser.MAX_PREAUTH_LITERAL]))
def test_read_command_reads_or_refuses(chunks, max_literal):
    try:
        data = read(chunks, max_literal)
    except (Bad, LineTooLong, StreamClosed):
        return
    parse_everything(data)
