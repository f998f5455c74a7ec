"""POP3 answers: the one-line `+OK` and `-ERR`, the multi-line answer and the
message data in it (RFC 1939 3), and the errors a verb raises to answer `-ERR`.

An error's `code` is a response code in brackets after -ERR (RFC 2449 8): IN-USE
(8.1.1), SYS/TEMP and AUTH (RFC 3206 4). A `Bad` error is the client's misuse of the
protocol (an unknown command, a command in the wrong state, a bad argument, an
over-long line) and counts against the session's error budget; an `Err` does not
(a message already deleted, a mailbox in use, a wrong password: those have their
own limits).
"""

CRLF = b"\r\n"
END = b".\r\n"


class Pop3Error(Exception):
    """A -ERR answer; the message is its text."""
    counted = False

    def __init__(self, text, code=None):
        super().__init__(text)
        self.text = text
        self.code = code

    def line(self):
        return err(self.text, self.code)


class Err(Pop3Error):
    """A command refused for what it asks, not for how it asks it."""


class Bad(Pop3Error):
    """A command the client should not have sent as it did: counted."""
    counted = True


class Closing(Exception):
    """The session ends after a last -ERR with this text (an idle client, too many
    errors or failed logins, the server stopping); nothing is deleted."""

    def __init__(self, text, code=None):
        super().__init__(text)
        self.text = text
        self.code = code


def ok(text=""):
    return b"+OK " + text.encode() + CRLF if text else b"+OK" + CRLF


def err(text, code=None):
    shown = f"[{code}] {text}" if code else text
    return b"-ERR " + shown.encode() + CRLF


def multiline(first, lines):
    """A multi-line answer whose lines are the server's own (listings, never
    starting with the termination octet)."""
    body = "\r\n".join(lines).encode()
    return ok(first) + body + (CRLF + END if lines else END)


def stuffed(data):
    """Message data as a multi-line answer carries it (RFC 1939 3): every line
    that begins with "." gets one more, the last line ends with CRLF, and ".CRLF"
    ends the answer. `data` is in wire form (CRLF line ends)."""
    if data[:1] == b".":
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if data and not data.endswith(CRLF):
        data += CRLF
    return data + END
