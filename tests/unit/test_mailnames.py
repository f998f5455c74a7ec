"""core.mailnames: folder names and their Maildir++ directories; no name leaves the
user's directory."""

import pytest

from mailsuite.core.mailfolder import FolderError
from mailsuite.core.mailnames import directory, folder_of, normalize, parent_names


@pytest.mark.parametrize("name,disk", [
    ("Sent", ".Sent"),
    ("Archive/2024", ".Archive.2024"),
    ("v1.2", ".v1\\2e2"),                 # Dovecot's listescape spelling
    ("a\\b", ".a\\5cb"),
    ("../etc", ".\\2e\\2e.etc"),
    ("~root", ".\\7eroot"),
    ("x/~y", ".x.~y"),                     # only a name's first "~" is escaped
    ("Café", ".Café"),
    ("INBOX/sub", ".INBOX.sub"),
])
def test_names_map_to_one_directory_and_back(name, disk):
    assert directory(name) == disk
    assert folder_of(disk) == name
    assert "/" not in disk and disk not in (".", "..")


@pytest.mark.parametrize("name", ["", "/etc/passwd", "a//b", "a/", "a\0b", "a\nb",
                                  "a\x7fb", "a\ud800b"])
def test_names_no_folder_can_have_are_refused(name):
    with pytest.raises(FolderError):
        normalize(name)


def test_escapes_count_against_the_file_name_limit():
    assert normalize("a" * 254) == "a" * 254
    with pytest.raises(FolderError, match="too long"):
        normalize("." * 85)             # 255 bytes once each "." is "\2e"
    assert normalize("." * 84) == "." * 84


def test_inbox_is_case_free_only_as_the_first_level():
    assert normalize("inbox/Inbox") == "INBOX/Inbox"


@pytest.mark.parametrize("entry", [
    "cur", "mailsuite.index", ".", "..", ".INBOX", ".inbox.x", ".a..b", ".a.",
    ".a\\2Eb",                          # upper-case escape: not ours
    ".a\\41b",                          # an escape we never write
    ".a\\2fb",                          # would put "/" in a level
    ".\udcff",                          # not UTF-8 on disk
])
def test_directories_that_are_no_folder_of_ours(entry):
    assert folder_of(entry) is None


def test_parent_names():
    assert parent_names("a/b/c") == ["a", "a/b"]
    assert parent_names("a") == []
