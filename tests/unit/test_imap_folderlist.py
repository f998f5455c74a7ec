"""mailsuite.imapd.folderlist: which names LIST and LSUB answer, with which
attributes (RFC 9051 6.3.9 and its examples, RFC 3501 6.3.9 for LSUB), and the
parsing of LIST's and STATUS's options."""

import pytest

from mailsuite.imapd.errors import Bad
from mailsuite.imapd.folderlist import (Options, Tree, list_entries, lsub_entries,
                                        parse_list, status_items)
from mailsuite.imapd.parser import parse_command
from mailsuite.imapd.pattern import compile_pattern

# The hierarchy of imaptest's "listext" group, under "t".
FOLDERS = ["t/test1", "t/test2", "t/test2/test1", "t/test3", "t/test4/test5",
           "t/test4/test52", "t/test7/test7", "t/test8/test8", "t/test8/test9"]
SUBSCRIBED = ["t/test1", "t/test2/test1", "t/test6", "t/test7/test7",
              "t/test8/test8", "t/test8/test9"]


def tree(folders=FOLDERS, subscribed=SUBSCRIBED, uses=None):
    uses = uses or {}
    return Tree([("INBOX", ())] + [(name, uses.get(name, ())) for name in folders],
                subscribed)


def listed(patterns, options=None, folders=tree()):
    matchers = [compile_pattern(p) for p in patterns]
    found = list_entries(folders, lambda n: any(m.matches(n) for m in matchers),
                         options or Options())
    return {e.name: (e.attributes, e.childinfo) for e in found}


def test_basic_list_has_children_attributes():
    assert listed(["t/%"]) == {
        "t/test1": (("\\HasNoChildren",), ()),
        "t/test2": (("\\HasChildren",), ()),
        "t/test3": (("\\HasNoChildren",), ()),
        # Missing parents stand in for what "%" does not reach (RFC 9051 6.3.9).
        "t/test4": (("\\Noselect", "\\HasChildren"), ()),
        "t/test7": (("\\Noselect", "\\HasChildren"), ()),
        "t/test8": (("\\Noselect", "\\HasChildren"), ()),
    }


def test_a_missing_parent_is_not_listed_when_its_children_are():
    # RFC 9051 6.3.9.8 example 10; imaptest listext's last check.
    options = Options(extended=True)
    assert list(listed(["t/test7", "t/test7/test7"], options)) == ["t/test7/test7"]
    assert "t/test4" not in listed(["*"])
    assert listed(["t/test%"], options)["t/test4"][0] == (
        "\\NonExistent", "\\HasChildren")


def test_several_patterns():
    assert list(listed(["t/*2", "t/test3"], Options(extended=True))) == [
        "t/test2", "t/test3", "t/test4/test52"]


def test_subscribed_selection():
    options = Options(extended=True, subscribed=True)
    found = listed(["t/*"], options)
    assert list(found) == SUBSCRIBED
    assert found["t/test6"][0] == ("\\Subscribed", "\\NonExistent", "\\HasNoChildren")
    assert "\\Noselect" not in found["t/test6"][0]


def test_recursivematch_gives_childinfo_only_where_needed():
    options = Options(extended=True, subscribed=True, recursive=True)
    assert listed(["t/test2%"], options) == {
        "t/test2": (("\\HasChildren",), ("SUBSCRIBED",))}
    assert list(listed(["*test7"], options)) == ["t/test7/test7"]
    found = listed(["*test8"], options)
    assert found["t/test8"] == (("\\NonExistent", "\\HasChildren"), ("SUBSCRIBED",))
    assert list(listed(["t/test2", "t/test2/test1"], options)) == ["t/test2/test1"]


def test_rfc_example_8_subscribed_parent_keeps_its_childinfo():
    folders = tree(["eps2", "eps2/mamba"], ["eps2", "eps2/mamba"])
    options = Options(extended=True, subscribed=True, recursive=True)
    assert listed(["*2"], options, folders) == {
        "eps2": (("\\Subscribed", "\\HasChildren"), ("SUBSCRIBED",))}


def test_return_subscribed_marks_without_selecting():
    found = listed(["t/%"], Options(extended=True, return_subscribed=True))
    assert found["t/test1"][0] == ("\\Subscribed", "\\HasNoChildren")
    assert "t/test6" not in found


def test_special_use():
    folders = tree(["Sent", "Work"], [], {"Sent": ("\\Sent",)})
    assert listed(["*"], folders=folders)["Sent"][0] == ("\\HasNoChildren", "\\Sent")
    assert list(listed(["*"], Options(extended=True, special_use=True), folders)) \
        == ["Sent"]


def test_status_only_for_selected_existing_folders():
    options = Options(extended=True, subscribed=True, recursive=True)
    found = list_entries(tree(), compile_pattern("t/%").matches, options)
    assert {e.name: e.status for e in found} == {
        "t/test1": True, "t/test2": False, "t/test6": False, "t/test7": False,
        "t/test8": False}


def test_lsub():
    assert [(e.name, e.attributes) for e in lsub_entries(
        tree(), compile_pattern("t/%").matches, True)] == [
        ("t/test1", ()), ("t/test2", ("\\Noselect",)), ("t/test6", ()),
        ("t/test7", ("\\Noselect",)), ("t/test8", ("\\Noselect",))]
    assert [e.name for e in lsub_entries(
        tree(), compile_pattern("*test1").matches, False)] == [
        "t/test1", "t/test2/test1"]


def args(text):
    return parse_command(f"t LIST {text}".encode()).args


def test_parse_list():
    options, reference, patterns = parse_list(args(
        '(SUBSCRIBED RECURSIVEMATCH REMOTE) "" ("a" b) RETURN (CHILDREN STATUS '
        '(MESSAGES SIZE MESSAGES) SPECIAL-USE SUBSCRIBED)'))
    assert (options.extended, options.subscribed, options.recursive) == (True,) * 3
    assert options.status == ("MESSAGES", "SIZE") and options.return_subscribed
    assert reference == b"" and patterns == [b"a", "b"]
    options, _, patterns = parse_list(args('"" %'))
    assert not options.extended and patterns == ["%"]


@pytest.mark.parametrize("text", [
    '(IMAPTEST) "" ""', '(RECURSIVEMATCH) "" ""', '(RECURSIVEMATCH REMOTE) "" ""',
    '"" "" RETURN (IMAPTEST)', '"" "" RETURN', '"" "" (x)', '""', '"" ()',
    '"" % RETURN (STATUS)', '"" % RETURN (STATUS ())', '"" % RETURN (STATUS (FOO))',
])
def test_parse_list_refusals(text):
    with pytest.raises(Bad):
        parse_list(args(text))


def test_status_items():
    assert status_items(args("(unseen messages)")[0]) == ("UNSEEN", "MESSAGES")
    for bad in ("()", "MESSAGES", "(MESSAGES (x))"):
        with pytest.raises(Bad):
            status_items(args(bad)[0])
