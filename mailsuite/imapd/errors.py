"""How a command fails (RFC 9051 7.1).

A verb raises `No` or `Bad` from anywhere; the session answers `tag NO|BAD [CODE]
text` and goes on. `Logout` ends the session with `* BYE text`.
"""


class ProtocolError(Exception):
    """A command failed; the session answers `tag STATUS [CODE] text`."""
    status = "NO"

    def __init__(self, text, code=None, tag=None):
        super().__init__(text)
        self.text = text
        self.code = code
        self.tag = tag


class No(ProtocolError):
    """The command was understood and refused."""
    status = "NO"


class Bad(ProtocolError):
    """The command was not understood (RFC 9051 7.1.3)."""
    status = "BAD"


class TooBig(Bad):
    """A literal or command over the limits; `fatal` when it cannot be skipped."""

    def __init__(self, text, tag=None, fatal=False):
        super().__init__(text, "TOOBIG", tag)
        self.fatal = fatal


class Logout(Exception):
    """End the session with `* BYE <message>` (RFC 9051 7.1.5)."""
