"""A line-level POP3 client for what poplib cannot say (AUTH, bad bytes, pipelined
commands) and for reading answers exactly as they were sent."""

import socket

END = b".\r\n"


class RawPop:
    def __init__(self, port, context=None, source=None, timeout=10):
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        """One line as sent, CRLF included; b"" once the server has closed."""
        return self.file.readline()

    def send(self, data):
        self.sock.sendall(data)

    def command(self, text):
        """Send one command; its first line of answer."""
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.line()

    def lines(self):
        """The rest of a multi-line answer, as sent (still dot-stuffed), up to
        and without the ".CRLF" that ends it."""
        out = []
        while (line := self.line()) != END:
            if not line:
                raise AssertionError(f"connection closed in a multi-line answer: {out}")
            out.append(line)
        return out

    def multiline(self, text):
        """(first line, the rest) of a multi-line answer to `text`."""
        first = self.command(text)
        assert first.startswith(b"+OK"), first
        return first, self.lines()

    def login(self, user, password):
        assert self.command(f"USER {user}").startswith(b"+OK")
        return self.command(f"PASS {password}")

    def starttls(self, context):
        assert self.command("STLS").startswith(b"+OK")
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def rest(self):
        """Everything the server sends until it closes the connection."""
        return self.file.read()

    def close(self):
        self.file.close()
        self.sock.close()
