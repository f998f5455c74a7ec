"""A lean IMAP client for the benchmark: commands out, whole answers in.

imaplib parses every untagged line into its tables, which costs the client more
than the server spends on a 100,000-line FETCH and would blur the comparison. This
client only splits the answer into responses, skipping literals by their length
(RFC 9051 4.3), and keeps them as bytes for the caller to count or read.

    client = Client(port)                      # reads the greeting
    reply = client.login(user, password)       # Reply(status, text, responses)
    reply = client.command("UID FETCH", "1:*", "(FLAGS)")
    tag = client.send("SELECT INBOX"); client.pending(); client.finish(tag)
    client.logout()                            # and waits for the server to close

Failure policy: a NO, BAD or BYE, a closed connection or a silent server raises
ImapError with the server's words; the client is then closed.
"""

import re
import select
import socket
import time
from typing import NamedTuple

TIMEOUT = 600           # seconds a command may take: a cold 100,000-message SELECT
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n\Z")


class ImapError(Exception):
    """The server refused a command or went away."""


class Reply(NamedTuple):
    status: str                 # OK
    text: str                   # the tagged line after the status
    responses: list             # the untagged responses, literals included


def quote(text):
    # RFC 9051 4.3: a quoted string escapes only the backslash and the quote.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Client:
    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = bytearray()
        self.start = 0
        self.tags = 0
        greeting = self._response()
        if not greeting.startswith(b"* OK"):
            self.close()
            raise ImapError(f"greeting: {greeting[:200]!r}")

    def command(self, *words):
        """Send a command (its words joined with spaces) and wait for its answer."""
        return self.finish(self.send(" ".join(words)))

    def login(self, user, password):
        return self.command("LOGIN", quote(user), quote(password))

    def send(self, text):
        self.tags += 1
        tag = f"b{self.tags:04d}"
        self.sock.sendall(f"{tag} {text}\r\n".encode("utf-8"))
        return tag

    def finish(self, tag):
        """The answer to the command sent with `tag`."""
        prefix = tag.encode("ascii") + b" "
        responses = []
        while True:
            line = self._response()
            if line.startswith(prefix):
                status, _, text = line[len(prefix):].decode("utf-8", "replace") \
                    .rstrip("\r\n").partition(" ")
                if status != "OK":
                    raise ImapError(f"{status} {text}")
                return Reply(status, text, responses)
            if line.startswith(b"* BYE"):
                raise ImapError(line.decode("utf-8", "replace").strip())
            responses.append(line)

    def logout(self, timeout=60):
        """LOGOUT, then wait until the server has closed the connection: only then
        has it let go of the mailbox. Nothing to do once the client is closed."""
        if self.sock.fileno() < 0:
            return
        try:
            tag = self.send("LOGOUT")
            prefix = tag.encode("ascii") + b" "
            while not self._response().startswith(prefix):
                pass
            self.sock.settimeout(timeout)
            deadline = time.monotonic() + timeout
            while self.sock.recv(65536) and time.monotonic() < deadline:
                pass
        finally:
            self.close()

    def pending(self):
        """True if the server has sent something not read yet."""
        if len(self.buffer) > self.start:
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)

    def close(self):
        self.sock.close()

    def _response(self):
        """One response: a line, with the literals it announces and their lines."""
        parts = []
        while True:
            line = self._line()
            parts.append(line)
            match = _LITERAL.search(line)
            if not match:
                return b"".join(parts)
            parts.append(self._exactly(int(match.group(1))))

    def _line(self):
        while True:
            end = self.buffer.find(b"\n", self.start)
            if end >= 0:
                line = bytes(self.buffer[self.start:end + 1])
                self.start = end + 1
                return line
            self._fill()

    def _exactly(self, n):
        while len(self.buffer) - self.start < n:
            self._fill()
        data = bytes(self.buffer[self.start:self.start + n])
        self.start += n
        return data

    def _fill(self):
        if self.start:
            del self.buffer[:self.start]
            self.start = 0
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            self.close()
            raise ImapError("the server did not answer in time") from None
        if not chunk:
            self.close()
            raise ImapError("the server closed the connection")
        self.buffer += chunk
