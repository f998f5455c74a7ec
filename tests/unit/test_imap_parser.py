"""mailsuite.imapd.parser: command reading and parsing, typed arguments."""

import asyncio

import pytest

from mailsuite.core.stream import LineTooLong, Stream
from mailsuite.imapd import parser, utf7
from mailsuite.imapd.errors import Bad, No, TooBig
from mailsuite.imapd.parser import Atom, String


def parse(data):
    return parser.parse_command(data)


# parse_command


def test_simple_command():
    cmd = parse(b"a1 CAPABILITY")
    assert (cmd.tag, cmd.name, cmd.args) == ("a1", "CAPABILITY", [])


def test_command_name_is_case_insensitive():
    assert parse(b"a1 login user pass").name == "LOGIN"


def test_atoms_and_quoted_strings():
    cmd = parse(b'a LOGIN demo@example.test "pa ss\\"w\\\\d"')
    assert cmd.args == ["demo@example.test", b'pa ss"w\\d']
    assert isinstance(cmd.args[0], Atom)
    assert isinstance(cmd.args[1], String)


def test_quoted_utf8_is_kept_as_bytes():
    cmd = parse('a LOGIN "jürgen" x'.encode())
    assert parser.astring(cmd.args[0]) == "jürgen"


def test_synchronizing_and_nonsynchronizing_literals():
    cmd = parse(b"a LOGIN {4}\r\nde o {7+}\r\nse\r\nret")
    assert cmd.args == [b"de o", b"se\r\nret"]


def test_empty_literal():
    assert parse(b"a LOGIN {0}\r\n x").args == [b"", "x"]


def test_nested_lists():
    cmd = parse(b"a STORE 1 +FLAGS (\\Seen (x y) $Label)")
    assert cmd.args == ["1", "+FLAGS", ["\\Seen", ["x", "y"], "$Label"]]


def test_bracketed_section_stays_in_one_token():
    cmd = parse(b"a FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)")
    assert cmd.args[1] == ["UID", "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>"]


def test_brackets_outside_fetch_sections_are_atom_chars():
    # RFC 9051 9: "[" is an ATOM-CHAR and "]" an ASTRING-CHAR; only a FETCH item
    # opens a section. imaptest's atoms test: SELECT of such a name is a NO, not BAD.
    name = b"!#$&'+,-.0123456789:;<=>?@^_`|[}"
    assert parse(b"a SELECT " + name).args == [name.decode()]
    assert parse(b'a LIST "" x[%').args == [b"", "x[%"]
    assert parse(b"a SELECT a[b c]").args == ["a[b", "c]"]
    assert parse(b"a FETCH 1 binary.peek[1 2]").args == ["1", "binary.peek[1 2]"]


def test_list_wildcards_in_atoms():
    assert parse(b'a LIST "" %').args == [b"", "%"]
    assert parse(b"a LIST x/ *").args == ["x/", "*"]


@pytest.mark.parametrize("data", [
    b"",                          # nothing
    b"a1",                        # no command
    b"+tag NOOP",                 # "+" is not a tag character
    b"a{1 NOOP",                  # nor "{"
    b"a1  NOOP",                  # two spaces
    b"a1 NO0P",                   # digits in the name
    b'a1 LOGIN "unterminated',
    b'a1 LOGIN "bad \\x escape"',
    b"a1 LOGIN (a b",             # unbalanced
    b"a1 LOGIN a b)",
    b"a1 LOGIN a  b",             # empty argument
    b"a1 LOGIN a(b)",             # no space before a list
    b'a1 LOGIN "a"b',             # no space after a string
    b"a1 LOGIN {5}\r\nabc",       # truncated literal
    b"a1 LOGIN {x}\r\nabc",
    b"a1 LOGIN a\x01b c",         # control character in an atom
    b"a1 FETCH 1 BODY[HEADER",    # unterminated section
    b"a1 SELECT i[\xff]nbox",     # only printable ASCII inside brackets
    b"a1 FETCH 1 BODY[\x00]",
    b"a1 FETCH 1 x[{3}\r\n]}\r\n",
    b"a1 LOGIN {" + b"9" * 5000 + b"}\r\nx",   # more digits than int() takes
])
def test_malformed_commands_are_bad(data):
    with pytest.raises(Bad):
        parse(data)


def test_nesting_is_bounded():
    depth = parser.MAX_NESTING
    cmd = parse(b"a NOOP " + b"(" * depth + b")" * depth)
    assert len(cmd.args) == 1
    for data in (b"(" * (depth + 1) + b")" * (depth + 1), b"(" * 100000):
        with pytest.raises(Bad, match="nested") as info:
            parse(b"a7 NOOP " + data)
        assert info.value.tag == "a7"


def test_bad_knows_the_tag_when_it_was_readable():
    with pytest.raises(Bad) as info:
        parse(b'a7 LOGIN "x')
    assert info.value.tag == "a7"


# typed arguments


def test_astring_refuses_wildcards_and_lists():
    for token in (Atom("a*"), Atom("%"), ["x"]):
        with pytest.raises(Bad):
            parser.astring(token)
    assert parser.astring(Atom("a]b")) == "a]b"


def test_mailbox_inbox_is_case_insensitive():
    assert parser.mailbox(Atom("inBox")) == "INBOX"
    assert parser.mailbox(String(b"Sent")) == "Sent"


def test_mailbox_names_and_patterns_are_bounded():
    longest = "x" * parser.MAX_MAILBOX
    assert parser.mailbox(Atom(longest)) == longest
    assert parser.list_mailbox(String(longest.encode())) == longest
    for helper in (parser.mailbox, parser.list_mailbox):
        for token in (Atom(longest + "x"), String(b"x" * 10 ** 6)):
            with pytest.raises(Bad) as info:
                helper(token)
            assert info.value.code == "TOOBIG"


def test_flags():
    listed = parse(b"a STORE 1 FLAGS (\\seen \\DELETED $Junk)").args[2:]
    assert parser.flag_list(listed) == ["\\Seen", "\\Deleted", "$Junk"]
    bare = parse(b"a STORE 1 FLAGS \\Answered x").args[2:]
    assert parser.flag_list(bare) == ["\\Answered", "x"]
    with pytest.raises(Bad):
        parser.flag_list([[String(b"quoted")]])
    for bad in ("\\Recent", "\\Bogus", "a]b"):
        with pytest.raises(Bad):
            parser.flag(Atom(bad))


def test_number():
    assert parser.number(Atom("42")) == 42
    for bad in (Atom("-1"), Atom("1x"), String(b"1"), Atom("12345678901")):
        with pytest.raises(Bad):
            parser.number(bad)


# sequence sets


def test_sequence_sets():
    assert parser.sequence_set(Atom("1:*,3,5:4")) == [(1, None), (3, 3), (5, 4)]
    assert parser.sequence_set(Atom("*")) == [(None, None)]


@pytest.mark.parametrize("text", ["", "0", "1:", ":2", "1,,2", "1:2:3", "a",
                                  "4294967296", "1 2", "9" * 5000, "1:" + "9" * 11])
def test_bad_sequence_sets(text):
    with pytest.raises(Bad):
        parser.sequence_set(Atom(text))


def test_sequence_set_must_be_an_atom():
    with pytest.raises(Bad):
        parser.sequence_set(String(b"1:2"))


def test_resolve_range_orders_and_expands_star():
    assert parser.resolve_range(None, 2, 9) == (2, 9)
    assert parser.resolve_range(5, 3, 9) == (3, 5)
    assert parser.resolve_range(None, None, 9) == (9, 9)


# read_command, on a real Stream fed by hand


class FakeTransport:
    def __init__(self):
        self.written = bytearray()

    def write(self, data):
        self.written += data

    def is_closing(self):
        return False

    def get_extra_info(self, name):
        return None

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def read(chunks, max_literal=parser.MAX_LITERAL, receive=None, commands=1):
    """Run read_command over a stream that receives `chunks` one by one;
    returns (command bytes or exception, continuation count), or a list of
    those for several `commands` in a row."""
    async def go():
        stream = Stream()
        stream.connection_made(FakeTransport())
        continuations = []

        async def cont():
            continuations.append(1)

        async def feed():
            for chunk in chunks:
                await asyncio.sleep(0)
                stream.data_received(chunk)
            stream.eof_received()
        feeder = asyncio.ensure_future(feed())
        results = []
        for _ in range(commands):
            try:
                result = await parser.read_command(stream, cont, max_literal, receive)
            except Exception as exc:
                result = exc
            results.append((result, len(continuations)))
            continuations.clear()
        await feeder
        return results if commands > 1 else results[0]
    return asyncio.run(go())


def test_read_plain_line():
    assert read([b"a NOOP\r\n"]) == (b"a NOOP", 0)


def test_read_accepts_bare_lf():
    assert read([b"a NOOP\n"]) == (b"a NOOP", 0)


def test_read_literal_asks_for_continuation():
    data, cont = read([b"a LOGIN {3}\r\n", b"abc", b" {2}\n", b"xy\r\n"])
    assert cont == 2
    assert parse(data).args == [b"abc", b"xy"]


def test_read_nonsync_literal_needs_no_continuation():
    data, cont = read([b"a LOGIN {3+}\r\nabc {2+}\r\nxy\r\n"])
    assert cont == 0
    assert parse(data).args == [b"abc", b"xy"]


def test_read_literal_with_newlines_inside():
    data, _ = read([b"a LOGIN {5+}\r\na\r\nb\n x\r\n"])
    assert parse(data).args == [b"a\r\nb\n", "x"]


def test_read_too_big_synchronizing_literal_is_refused_before_it_comes():
    exc, cont = read([b"t1 APPEND x {999999999999}\r\n"])
    assert isinstance(exc, TooBig) and not exc.fatal and exc.tag == "t1"
    assert cont == 0


def test_read_literal_limit_is_the_callers():
    exc, _ = read([b"t1 LOGIN {101}\r\n"], max_literal=100)
    assert isinstance(exc, TooBig)
    data, _ = read([b"t1 LOGIN {100+}\r\n" + b"x" * 100 + b" y\r\n"], max_literal=100)
    assert parse(data).args == [b"x" * 100, "y"]


def test_read_too_big_nonsync_literal_is_fatal_before_login():
    # Without a hook (no user logged in), such bytes are not worth reading.
    exc, _ = read([b"t1 APPEND x {999999999999+}\r\n"])
    assert isinstance(exc, TooBig) and exc.fatal


async def keep_in_memory(head, size):
    return None


def test_a_long_nonsync_literal_is_refused_and_dropped_with_its_command():
    # RFC 7888 4 (LITERAL+): over the limit of a logged-in session, BAD [TOOBIG];
    # the bytes already on the wire, and the rest of the command, are read and
    # dropped, and the next command is read as usual.
    data = b"x" * 4990 + b"\r\nt9 NOOP"         # command-like bytes inside
    (exc, _), (after, _) = read([b"t1 LOGIN {5000+}\r\n", data,
                                 b" more {3+}\r\nabc end\r\n", b"t2 NOOP\r\n"],
                                max_literal=4096, receive=keep_in_memory, commands=2)
    assert isinstance(exc, TooBig) and not exc.fatal and exc.tag == "t1"
    assert after == b"t2 NOOP"
    data, _ = read([b"t1 LOGIN {5000+}\r\n" + b"x" * 5000 + b" y\r\n"],
                   receive=keep_in_memory)
    assert parse(data).args == [b"x" * 5000, "y"]


def test_a_refused_nonsync_literal_is_dropped():
    # The hook refuses (over quota): the client sends the bytes anyway.
    async def receive(head, size):
        raise No("over quota", "OVERQUOTA")
    (exc, cont), (after, _) = read([b"t1 APPEND INBOX {6+}\r\n", b"abc\r\nt", b"\r\n",
                                    b"t2 NOOP\r\n"], receive=receive, commands=2)
    assert isinstance(exc, No) and exc.code == "OVERQUOTA" and exc.tag == "t1"
    assert cont == 0 and after == b"t2 NOOP"


def test_a_big_nonsync_literal_goes_to_the_hooks_sink():
    sink = Sink()

    async def receive(head, size):
        return sink
    big = b"n" * (2 * parser.PIECE + 3)
    data, cont = read([b"t1 APPEND INBOX {%d+}\r\n" % len(big), big, b"\r\n"],
                      receive=receive)
    assert cont == 0 and b"".join(sink.pieces) == big and sink.closed
    assert parse(data).args[1] is sink


class Sink:
    """A hook's sink that keeps what it is given."""

    def __init__(self, fail_after=None):
        self.pieces, self.closed, self.discarded = [], False, False
        self.fail_after = fail_after

    async def write(self, piece):
        if self.fail_after is not None and len(self.pieces) >= self.fail_after:
            raise No("disk full", "UNAVAILABLE")
        self.pieces.append(piece)

    async def close(self):
        self.closed = True

    async def discard(self):
        self.discarded = True


def test_a_hook_takes_literals_in_pieces():
    sinks, heads = [], []

    async def receive(head, size):
        heads.append((bytes(head), size))
        if size < 100:
            return None
        sinks.append(Sink())
        return sinks[-1]
    big = b"y" * (parser.PIECE + 10)
    data, cont = read([b"t1 APPEND INBOX {%d}\r\n" % len(big), big,
                       b" {2}\r\n", b"ab (\\Seen) {%d}\r\n" % len(big), big,
                       b"\r\n"], receive=receive)
    assert cont == 3
    assert [len(p) for p in sinks[0].pieces] == [parser.PIECE, 10]
    assert b"".join(sinks[1].pieces) == big and sinks[1].closed
    assert heads[0] == (b"t1 APPEND INBOX {%d}\r\n" % len(big), len(big))
    cmd = parse(data)
    assert cmd.args[0] == "INBOX" and cmd.args[1] is sinks[0]
    assert cmd.args[2:] == [b"ab", [Atom("\\Seen")], sinks[1]]
    assert isinstance(cmd.args[2], parser.Literal)
    assert not any(sink.discarded for sink in sinks)


def test_a_hook_may_refuse_before_the_literal_comes():
    sinks = []

    async def receive(head, size):
        if sinks:
            raise No("over quota", "OVERQUOTA")
        sinks.append(Sink())
        return sinks[-1]
    exc, cont = read([b"t1 APPEND INBOX {3}\r\n", b"abc {4}\r\n"], receive=receive)
    assert isinstance(exc, No) and exc.code == "OVERQUOTA" and exc.tag == "t1"
    assert cont == 1                    # the second literal was never asked for
    assert sinks[0].discarded


def test_a_failing_sink_drops_the_rest_of_the_command():
    sink = Sink(fail_after=1)

    async def receive(head, size):
        return sink
    big = b"z" * (3 * parser.PIECE)
    (exc, _), (after, _) = read([b"t1 APPEND INBOX {%d}\r\n" % len(big), big,
                                 b" {1+}\r\nq\r\nt2 NOOP\r\n"],
                                receive=receive, commands=2)
    assert isinstance(exc, No) and exc.tag == "t1" and sink.discarded
    assert after == b"t2 NOOP"


def test_read_line_too_long():
    exc, _ = read([b"a NOOP " + b"x" * (parser.MAX_LINE + 10) + b"\r\n"])
    assert isinstance(exc, LineTooLong)


# modified UTF-7 (RFC 3501 5.1.3)


@pytest.mark.parametrize("name,encoded", [
    ("INBOX", "INBOX"), ("a&b", "a&-b"), ("Entwürfe", "Entw&APw-rfe"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-")])
def test_utf7(name, encoded):
    assert utf7.encode(name) == encoded
    assert utf7.decode(encoded) == name


@pytest.mark.parametrize("bad", ["a&b", "&Jjo!", "&AGE"])
def test_utf7_malformed(bad):
    # A name no mailbox can have: NO, the command was understood.
    with pytest.raises(No):
        utf7.decode(bad)
