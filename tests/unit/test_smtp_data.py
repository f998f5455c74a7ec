from mailsuite.smtp import data


def read(raw):
    """What the session passes to finish(): the DATA line's CRLF, then the data."""
    return data.finish(b"\r\n" + raw)


def test_plain_message():
    assert read(b"Subject: x\r\n\r\nbody\r\n.\r\n") == b"Subject: x\r\n\r\nbody\r\n"


def test_empty_message():
    assert read(b".\r\n") == b""


def test_dot_unstuffing():
    msg = read(b"a\r\n..\r\n...x\r\n.y\r\n.\r\n")
    assert msg == b"a\r\n.\r\n..x\r\ny\r\n"


def test_first_line_dot_unstuffed():
    assert read(b"..hidden\r\n.\r\n") == b".hidden\r\n"


def test_bare_line_ends_become_crlf():
    assert read(b"a\nb\rc\r\n.\r\n") == b"a\r\nb\r\nc\r\n"


def test_header_size():
    assert data.header_size(b"A: b\r\nC: d\r\n\r\nbody") == 12
    assert data.header_size(b"\r\nbody") == 0
    assert data.header_size(b"A: b\r\n") == 6


def test_count_received():
    msg = b"Received: a\r\nreceived: b\r\nX: y\r\n\r\nReceived: body\r\n"
    assert data.count_received(msg, 100) == 2
