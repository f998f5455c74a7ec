"""A line-level IMAP client for the security tests: it sends what imaplib will not
(bad bytes, deep nesting, non-synchronizing literals) and reads raw responses."""

import re
import socket

from checks import PASSWORD, USER

_LITERAL_AT_END = re.compile(rb"\{(\d+)\}\r\n\Z")


class RawImap:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.file.readline()

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """One response, with the literals in it, as bytes ("" once closed)."""
        data = self.line()
        while (match := _LITERAL_AT_END.search(data)):
            data += self.file.read(int(match.group(1))) + self.line()
        return data

    def command(self, text, tag="t1"):
        """Send `tag text`; return (tagged reply, [untagged responses])."""
        body = text.encode() if isinstance(text, str) else text
        self.send(tag.encode() + b" " + body + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            data = self.response()
            if not data:
                raise AssertionError(f"connection closed; got {untagged}")
            if data.startswith(tag.encode() + b" "):
                return data, untagged
            untagged.append(data)

    def login(self):
        tagged, _ = self.command(f"LOGIN {USER} {PASSWORD}", "login")
        assert tagged.startswith(b"login OK"), tagged

    def close(self):
        self.file.close()
        self.sock.close()
