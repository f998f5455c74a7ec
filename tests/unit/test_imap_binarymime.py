"""mailsuite.imapd.binarymime: binary parts of an APPENDed message stored
base64-encoded (RFC 3516 4.4), everything else kept as it came."""

import base64

from mailsuite.core import msginfo
from mailsuite.core.mailmessage import Incoming
from mailsuite.imapd import binarymime, section
from mailsuite.imapd.binarymime import encode_binary_file, encode_binary_parts

OCTETS = b"\0-\xe4\n\r\n\n"         # NUL, 8-bit, bare LF, CRLF: imaptest's part
HEADER = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
          b"Content-Type: application/octet-stream\r\n")


def test_a_binary_body_becomes_base64_with_the_same_octets():
    message = HEADER + b"Content-Transfer-Encoding: binary\r\n\r\n" + OCTETS
    stored = encode_binary_parts(message)
    assert b"\0" not in stored and b"binary" not in stored.lower()
    head, body = stored.split(b"\r\n\r\n", 1)
    assert head.endswith(b"\r\nContent-Transfer-Encoding: base64")
    assert base64.b64decode(body) == OCTETS
    info = msginfo.analyse(stored)
    assert section.binary_bytes(stored, info, [1]) == OCTETS


def test_nul_in_a_part_without_an_encoding_field_is_encoded_too():
    stored = encode_binary_parts(HEADER + b"\r\n" + OCTETS)
    assert stored.startswith(HEADER + b"Content-Transfer-Encoding: base64\r\n\r\n")
    assert base64.b64decode(stored.split(b"\r\n\r\n", 1)[1]) == OCTETS


def test_only_the_binary_part_of_a_multipart_changes():
    text = b"Content-Type: text/plain\r\n\r\nHello.\r\n"
    binary = (b"Content-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding:\r\n binary\r\n\r\n" + OCTETS * 20)
    message = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + text
               + b"\r\n--b\r\n" + binary + b"\r\n--b--\r\n")
    stored = encode_binary_parts(message)
    info = msginfo.analyse(stored)
    assert section.binary_bytes(stored, info, [1]) == b"Hello.\r\n"
    assert section.binary_bytes(stored, info, [2]) == OCTETS * 20
    assert stored.startswith(message[:message.index(b"--b\r\nContent-Type: app")])
    assert stored.endswith(b"\r\n--b--\r\n")
    assert max(len(line) for line in stored.split(b"\r\n")) <= 76


def test_a_message_without_binary_parts_is_the_same_object():
    message = HEADER + b"Content-Transfer-Encoding: 8bit\r\n\r\n\xe4 text\n"
    assert encode_binary_parts(message) is message


def test_a_file_is_encoded_piece_by_piece_into_another(tmp_path, monkeypatch):
    # Pieces smaller than the parts: base64 lines and copies cross them.
    monkeypatch.setattr(binarymime, "_CHUNK", 57 * 2)
    octets = bytes(range(256)) * 9
    message = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
               b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"bare\nline\n" * 40
               + b"\r\n--b\r\nContent-Transfer-Encoding: binary\r\n\r\n" + octets
               + b"\r\n--b--\r\n")
    (tmp_path / "tmp").mkdir()
    source = tmp_path / "raw"
    source.write_bytes(message)
    sink = Incoming(tmp_path)
    encode_binary_file(source, sink)
    sink.close()
    stored = sink.tmp.read_bytes()
    info = msginfo.analyse(stored)
    assert section.binary_bytes(stored, info, [2]) == octets
    assert section.binary_bytes(stored, info, [1]) == b"bare\r\nline\r\n" * 40
    assert stored.count(b"\n") == stored.count(b"\r\n")
    assert b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" in stored
