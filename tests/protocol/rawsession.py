"""One raw IMAP session for dialogs imaplib cannot read (ESEARCH updates,
notifications sent unasked): commands as sent, responses as received, line
ends removed; `line()` reads what the server sends unasked, within the
socket's timeout."""

from harness import Instance, connect


def serve_imapd(base, user, password):
    """An imapd with one user for a test module; its log is checked for
    tracebacks when the module is done (a generator for a fixture)."""
    instance = Instance(base)
    instance.add_user(user, password)
    instance.start("imapd")
    yield instance
    log = instance.log("imapd")
    instance.close()
    assert "Traceback" not in log


class Raw:
    def __init__(self, instance, user, password):
        self.sock = connect(instance.port("imap"))
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.tag = 0
        self.ok(f"LOGIN {user} {password}")

    def command(self, text):
        """(tagged line, [untagged lines])."""
        self.tag += 1
        tag = b"t%d" % self.tag
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        untagged = []
        while not (line := self.line()).startswith(tag + b" "):
            untagged.append(line)
        return line, untagged

    def ok(self, text):
        tagged, untagged = self.command(text)
        assert b" OK " in tagged, (text, tagged, untagged)
        return untagged

    def line(self):
        line = self.file.readline()
        assert line, "connection closed"
        return line.rstrip(b"\r\n")

    def close(self):
        self.file.close()
        self.sock.close()
