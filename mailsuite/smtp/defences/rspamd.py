"""The hand-off to rspamd: the whole message, with its envelope, posted to a
running rspamd's normal worker over its HTTP protocol (/checkv2), and its verdict
acted on at the end of the data.

    spam = Rspamd(cfg.rspamd)
    verdict = await spam.check(message, size, envelope)  # Verdict, or None
    verdict.fields() -> bytes      # X-Spam-* fields for the top of the message
    folder = await judge(spam, session, incoming)   # smtpd's end of the data
    strip_verdicts(head) -> bytes  # without X-Spam fields the client wrote

rspamd's action decides: "reject" is refused (550 5.7.1), "soft reject" is
deferred (451 4.7.1), "add header" and "rewrite subject" go to the Junk folder,
"greylist" and "no action" are delivered (smtpd greylists on its own); every
accepted message gets the fields, and fields of those names the client wrote
are dropped as the header arrives (nobody else may speak for our filter). A
message over `max_size` is not sent.

Failure policy: rspamd down, slow (past `timeout`) or answering nonsense is one
log line and no verdict; the message is taken as if rspamd were off, as a mail
server must not stop taking mail because its filter is away.
"""

import asyncio
import http.client
import json
import logging
import os
import re
from typing import NamedTuple

from ...core.config import relay_address
from ..errors import ProtocolError

log = logging.getLogger("smtpd")

JUNK_ACTIONS = {"add header", "rewrite subject"}
_VERDICT_FIELD = re.compile(rb"(?i)x-spam(?:-action|-score)?[ \t]*:")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")     # RFC 5322 2.2.3: not folded


class Verdict(NamedTuple):
    action: str
    score: float
    required: float

    def fields(self):
        spam = "Yes" if self.action in JUNK_ACTIONS | {"reject"} else "No"
        return (f"X-Spam: {spam}\r\nX-Spam-Action: {self.action}\r\n"
                f"X-Spam-Score: {self.score:.2f} / {self.required:.2f}\r\n").encode()


class Rspamd:
    def __init__(self, settings):
        self.host, self.port = relay_address(settings.address, 11333)
        self.timeout = settings.timeout
        self.max_size = settings.max_size
        self.junk_folder = settings.junk_folder

    async def check(self, message, size, envelope):
        """The Verdict on `message` (bytes, or the path of its file) of `size`
        octets; None when it was not checked. `envelope`: rspamd's request
        headers (IP, Helo, From, Rcpt, Queue-Id...)."""
        if size > self.max_size:
            log.info("%s: not sent to rspamd: %d octets", envelope["Queue-Id"], size)
            return None
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, self._post, message, envelope)
            verdict = Verdict(str(answer["action"]), float(answer["score"]),
                              float(answer["required_score"]))
        except (OSError, http.client.HTTPException, ValueError, KeyError,
                TypeError) as exc:
            log.warning("%s: rspamd unavailable, message taken unchecked: %s",
                        envelope["Queue-Id"], str(exc)[:200] or type(exc).__name__)
            return None
        log.info("%s: rspamd: %s, score %.2f / %.2f", envelope["Queue-Id"],
                 verdict.action, verdict.score, verdict.required)
        return verdict

    def _post(self, message, envelope):
        """rspamd's answer (JSON) to the message; in a thread."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        body = open(message, "rb") if isinstance(message, os.PathLike) else message
        length = os.fstat(body.fileno()).st_size if body is not message else len(body)
        try:
            conn.putrequest("POST", "/checkv2")
            conn.putheader("Content-Length", str(length))
            for name, value in _header_lines(envelope):
                conn.putheader(name, value)
            conn.endheaders()
            conn.send(body)
            response = conn.getresponse()
            text = response.read(1 << 20)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return json.loads(text)
        finally:
            conn.close()
            if body is not message:
                body.close()


def _header_lines(envelope):
    """(name, value) pairs; a list value gives one header per item (Rcpt). No
    value may hold a line break: each is what smtpd checked already."""
    for name, value in envelope.items():
        for item in value if isinstance(value, list) else [value]:
            if item:
                yield name, "".join(ch for ch in str(item) if ch.isprintable())


async def judge(spam, session, incoming):
    """rspamd's verdict on the message of `incoming`, acted on: ProtocolError to
    refuse or defer it, else its fields put on top; returns the folder it goes
    to (`junk_folder`), or None."""
    draft, envelope = incoming.draft, incoming.envelope
    message = draft.directory / draft.qid if draft.on_disk else draft.value()
    verdict = await spam.check(message, incoming.size, {
        "Queue-Id": incoming.qid, "IP": session.client_ip, "Helo": session.helo,
        "Hostname": session.client_name, "From": str(envelope.sender),
        "Rcpt": [str(path) for path in envelope.recipients]})
    if verdict is None:
        return None
    # RFC 5321 4.2.5 and RFC 3463 3.8 (5.7.1, 4.7.1): refused for policy, after
    # the whole message; not the client's mistake, not counted.
    if verdict.action == "reject":
        raise ProtocolError(550, "5.7.1", "message refused as spam", counted=False)
    if verdict.action == "soft reject":
        raise ProtocolError(451, "4.7.1", "message deferred, try again later",
                            counted=False)
    await incoming.prepend(verdict.fields())
    return spam.junk_folder if verdict.action in JUNK_ACTIONS else None


def strip_verdicts(head):
    """`head` (a message's first octets) without the X-Spam, X-Spam-Action and
    X-Spam-Score fields of its header section."""
    section, sep, rest = head.partition(b"\r\n\r\n")
    if not sep:
        return head
    fields = _FIELD_START.split(section)
    kept = [field for field in fields if not _VERDICT_FIELD.match(field)]
    if len(kept) == len(fields):
        return head
    return b"".join(field + b"\r\n" for field in kept) + b"\r\n" + rest
