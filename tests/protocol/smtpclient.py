"""A raw SMTP dialog helper for what smtplib cannot say (bare LFs, pipelining)."""

import socket


class Raw:
    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One complete (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed; got {lines!r} {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def begin_data(self, sender="a@b.test", recipient="demo@example.test"):
        """Greeting, EHLO, MAIL, RCPT, DATA; returns DATA's reply code."""
        self.reply()
        self.cmd("EHLO client.test")
        self.cmd(f"MAIL FROM:<{sender}>")
        self.cmd(f"RCPT TO:<{recipient}>")
        return self.cmd("DATA")[0]

    def closed(self):
        """True if the server closed the connection (reads EOF)."""
        try:
            return self.sock.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.sock.close()
