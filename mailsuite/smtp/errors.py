"""The one exception an SMTP session raises to answer a client."""


class ProtocolError(Exception):
    """A reply to send instead of success: code, enhanced status, text.

    `close` ends the session after the reply. `counted` says whether the reply
    uses up one of the client's errors (smtpd.max_errors). By default only 5yz
    replies do: they answer the client's mistakes, while a 4yz reply reports a
    limit or a trouble of the server (RFC 5321 4.2.1), such as 452 for recipients
    past the limit, which the client is expected to meet (RFC 5321 4.5.3.1.8)."""

    def __init__(self, code, enhanced, text, close=False, counted=None):
        super().__init__(f"{code} {enhanced} {text}")
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.close = close
        self.counted = code >= 500 if counted is None else counted

    def reply(self):
        return f"{self.code} {self.enhanced} {self.text}"
