"""How an outbound attempt ends for a recipient: delivered, deferred or failed,
with an RFC 3463 status code and the text to show the sender.

    Outcome(state, status, text, remote=None, passed_on=False)
        # state: "done" | "deferred" | "failed"; passed_on: the peer took the
        # DSN request on (it offered DSN, RFC 3461)
    Outcome.from_reply(code, text, remote)      # an SMTP reply
    DeliveryFailed(status, text, remote=None)   # raised; .outcome(); .permanent
    outcome.record() -> "5.1.1 text"            # the spool's error field
    parse_record("5.1.1 text") -> (status | None, text)
"""

import re
from typing import NamedTuple

REPLY_TEXT_MAX = 512          # characters of a peer's reply kept for logs and DSNs
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")


class Reply(NamedTuple):
    code: int
    text: str

    @property
    def ok(self):
        return 200 <= self.code < 400


class Outcome(NamedTuple):
    state: str              # done | deferred | failed
    status: str             # RFC 3463: class.subject.detail
    text: str               # what the peer said, or why we gave up
    remote: str | None = None   # the host that answered, for Remote-MTA
    passed_on: bool = False     # the peer offered DSN: NOTIFY went on with it

    @classmethod
    def from_reply(cls, code, text, remote=None):
        """An SMTP reply: 2xx done, 4xx deferred, 5xx failed. The enhanced code
        (RFC 2034) is taken from the text when the peer gives one."""
        found = _STATUS.match(text)
        status = found.group(0) if found and found.group(1) == str(code)[0] \
            else f"{str(code)[0]}.0.0"
        state = {"2": "done", "4": "deferred"}.get(str(code)[0], "failed")
        return cls(state, status, f"{code} {text}".strip(), remote)

    def record(self):
        """The recipient's error field in the spool: status, then the text."""
        return f"{self.status} {self.text}" if self.state != "done" else self.text


class DeliveryFailed(Exception):
    """An attempt failed before any reply for the recipient: a DNS answer, a
    connection, a capability the peer lacks."""

    def __init__(self, status, text, remote=None):
        super().__init__(f"{status} {text}")
        self.status, self.text, self.remote = status, text, remote

    @property
    def permanent(self):
        return self.status.startswith("5")

    def outcome(self):
        return Outcome("failed" if self.permanent else "deferred", self.status,
                       self.text, self.remote)


def parse_record(error):
    """(status, text) from a recipient's error field; status is None when the
    field has none."""
    found = _STATUS.match(error)
    if found:
        return found.group(0), error[found.end():].strip()
    return None, error


def show_reply(reply, with_code=True):
    """A reply on one line, bounded, for logs and notices."""
    text = reply.text.replace("\n", " ")[:REPLY_TEXT_MAX]
    return f"{reply.code} {text}" if with_code else text
