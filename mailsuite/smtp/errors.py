"""The one exception an SMTP session raises to answer a client."""


class ProtocolError(Exception):
    """A reply to send instead of success: code, enhanced status, text."""

    def __init__(self, code, enhanced, text, close=False):
        super().__init__(f"{code} {enhanced} {text}")
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.close = close

    def reply(self):
        return f"{self.code} {self.enhanced} {self.text}"
