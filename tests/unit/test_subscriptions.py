"""core.subscriptions: the `subscriptions` file in Dovecot's formats."""

from mailsuite.core import subscriptions


def test_written_in_dovecot_version_2_format(tmp_path):
    assert subscriptions.change(tmp_path, ["INBOX", "Archive/2024", "v1.2"], True)
    data = (tmp_path / "subscriptions").read_bytes()
    assert data == b"V\t2\n\nINBOX\nArchive\t2024\nv1\\2e2\n"
    assert (tmp_path / "subscriptions").stat().st_mode & 0o777 == 0o600
    assert subscriptions.read(tmp_path) == ["INBOX", "Archive/2024", "v1.2"]


def test_changes_keep_the_order_and_report_nothing_to_do(tmp_path):
    subscriptions.change(tmp_path, ["b", "a"], True)
    assert not subscriptions.change(tmp_path, ["a"], True)
    assert subscriptions.change(tmp_path, ["c"], True)
    assert subscriptions.change(tmp_path, ["b"], False)
    assert not subscriptions.change(tmp_path, ["missing"], False)
    assert subscriptions.read(tmp_path) == ["a", "c"]


def test_tab_escapes_round_trip():
    for text in ("a\tb\r\n\x01c", "\x011t", "plain"):
        assert subscriptions._tab_unescape(subscriptions._tab_escape(text)) == text
    assert subscriptions._tab_escape("a\tb") == "a\x01tb"


def test_reads_dovecot_version_1_files(tmp_path):
    (tmp_path / "subscriptions").write_text("INBOX\nArchive.2024\nv1\\2e2\nOld.\n\n")
    assert subscriptions.read(tmp_path) == ["INBOX", "Archive/2024", "v1.2", "Old"]


def test_missing_file_and_invalid_lines(tmp_path):
    assert subscriptions.read(tmp_path) == []
    (tmp_path / "subscriptions").write_bytes(
        b"V\t2\n\n\nempty\t\tlevel\n\xff\nA\x01tB\nfine\n")
    # Not UTF-8, an empty level, a TAB in a level (a control character): skipped.
    assert subscriptions.read(tmp_path) == ["fine"]
