"""core.maildir.normalize: folder names the file system can hold."""

import pytest

from mailsuite.core.maildir import FolderError, Store, normalize


def test_names_up_to_the_file_name_limit():
    # ".", the levels and the "." between them make one directory name.
    assert normalize("a" * 254) == "a" * 254
    assert normalize("x/" * 126 + "yz") == "x/" * 126 + "yz"
    assert normalize("ü" * 127) == "ü" * 127


@pytest.mark.parametrize("name", ["a" * 255, "ü" * 128, "x/" * 127 + "y",
                                  "inbox/" + "a" * 249, "a" * 100000])
def test_longer_names_are_refused_without_being_repeated(name):
    with pytest.raises(FolderError, match="too long") as info:
        normalize(name)
    assert len(str(info.value)) < 100


def test_a_name_that_cannot_be_a_file_name_is_refused():
    with pytest.raises(FolderError, match="Unicode"):
        normalize("a\ud800b")


def test_the_store_refuses_them_before_the_file_system(tmp_path):
    with Store(tmp_path / "user") as store:
        store.create_folder("y" * 254)
        assert "y" * 254 in store.folders()
        with pytest.raises(FolderError, match="too long"):
            store.create_folder("y" * 255)
        with pytest.raises(FolderError, match="too long"):
            store.folder("z" * 300)
