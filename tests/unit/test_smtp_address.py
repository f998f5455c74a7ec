import pytest

from mailsuite.smtp.address import Path, parse_path
from mailsuite.smtp.errors import ProtocolError


@pytest.mark.parametrize("text, local, domain", [
    ("<user@example.test>", "user", "example.test"),
    (" <User@Example.TEST>", "User", "example.test"),
    ("<first.last+tag@example.test>", "first.last+tag", "example.test"),
    ('<"john doe"@example.test>', "john doe", "example.test"),
    ('<"a\\"b"@example.test>', 'a"b', "example.test"),
    ("<@relay.example,@other.example:user@example.test>", "user", "example.test"),
    ("<用户@例子.test>", "用户", "例子.test"),
])
def test_valid_paths(text, local, domain):
    path, params = parse_path(text)
    assert (path.local, path.domain) == (local, domain)
    assert params == {}


def test_null_path_only_where_allowed():
    path, _ = parse_path("<>", allow_null=True)
    assert path.null and str(path) == ""
    with pytest.raises(ProtocolError) as err:
        parse_path("<>")
    assert err.value.code == 501


def test_parameters_are_parsed_and_uppercased():
    _, params = parse_path("<a@b.test> size=100 SMTPUTF8 BODY=8BITMIME")
    assert params == {"SIZE": "100", "SMTPUTF8": True, "BODY": "8BITMIME"}


def test_address_literal_is_flagged():
    path, _ = parse_path("<user@[127.0.0.1]>")
    assert path.literal and path.domain == "[127.0.0.1]"


@pytest.mark.parametrize("text", [
    "user@example.test",            # no brackets
    "<user@example.test",           # unterminated
    "<userexample.test>",           # no domain
    "<@example.test>",              # no local part
    "<user@>",                      # empty domain
    "<user@exa mple.test>",         # space in domain
    "<us..er@example.test>",        # bad dot-string
    "<user@-example.test>",         # label starts with hyphen
    '<"unterminated@example.test>',
    "<" + "a" * 65 + "@example.test>",     # RFC 5321 4.5.3.1.1
    "<a@" + "b" * 250 + ".test>",          # RFC 5321 4.5.3.1.3
    "<a@b.test> =bad",
])
def test_invalid_paths(text):
    with pytest.raises(ProtocolError) as err:
        parse_path(text)
    assert err.value.code == 501 or err.value.code == 553


def test_str_requotes_local_part():
    assert str(Path("john doe", "example.test")) == '"john doe"@example.test'
    assert str(Path("john", "example.test")) == "john@example.test"


def test_bare_postmaster_only_where_allowed():
    # RFC 5321 4.1.1.3: RCPT TO:<Postmaster> needs no domain, in any case.
    assert parse_path("<PostMaster>", allow_postmaster=True) == (Path("postmaster"), {})
    with pytest.raises(ProtocolError) as err:
        parse_path("<Postmaster>")
    assert err.value.code == 501
    with pytest.raises(ProtocolError):
        parse_path("<postmasters>", allow_postmaster=True)
