"""A deterministic Maildir of N generated messages, for the IMAP benchmark.

    path = cached(10_000)          # build/bench/maildir-10000-s1-v1/, made once
    generate(path, count, seed)    # the same files for the same count and seed

The mail looks like a real year of an INBOX: sizes of 1 to 50 KiB, most of them
small (a log-normal skew around 4 KiB); a fifth multipart (text and HTML, some with
a base64 attachment); From, To, Cc, Subject (some as RFC 2047 encoded words), Date,
Message-ID, threads by In-Reply-To and References, mailing lists by List-Id. Most
files end their lines with CRLF, a few percent with LF as other tools write them.
Names are plain Maildir ones, `<secs>.M<usecs>P<n>.bench`, with `:2,<flags>` in
cur/ (mostly S, some FS and RS, some unread) and without in new/ for the newest
unread mail; each file's mtime, the message's internal date, is its arrival time,
spread over a year in the order of the messages.

A cache directory is complete or absent: it is generated beside its final name
and renamed into place, so an interrupted run never leaves half a mailbox to reuse.
"""

import base64
import os
import random
import shutil
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "bench"
VERSION = 1                 # bump when the output changes, to regenerate caches
SEED = 1
START = 1_700_000_000       # the oldest message's arrival, seconds since the epoch
YEAR = 365 * 86400
MIN_SIZE, MAX_SIZE = 1024, 50 * 1024

PEOPLE = ["Alice Martin", "Bob Nguyen", "Chloé Dubois", "Dmitri Ivanov", "Eve Adams",
          "Fatima Khan", "Günter Schmidt", "Hana Sato", "Ivan Petrov", "Julia Rossi",
          "Kofi Mensah", "Lena Berg", "Marco Bianchi", "Nora Lind", "Omar Haddad"]
DOMAINS = ["example.org", "example.net", "lists.example.com", "corp.example"]
LISTS = ["dev.lists.example.com", "announce.example.org", "users.example.net"]
TOPICS = ["quarterly report", "build failure on main", "lunch on Friday",
          "release 2.4 planning", "invoice 4711", "meeting notes", "travel plans",
          "review request: parser rewrite", "server maintenance window",
          "welcome to the list"]
ENCODED = ["Réunion de l'équipe", "Grüße aus München", "Ceny na rok 2024 – ważne",
           "Приглашение на встречу", "会議の議事録"]
WORDS = ("the a of to and in is it that for on with as was at by this be from or "
         "have an but not are which you were all we when your can there use each "
         "mail server index folder message client release build report meeting "
         "please thanks regards update attached schedule review change test").split()


class Message(NamedTuple):
    name: str               # the file name, with its :2,flags info if any
    subdir: str             # "new" or "cur"
    mtime: float            # the internal date
    data: bytes


def cached(count, seed=SEED):
    """The path of the generated Maildir of `count` messages, made if missing."""
    path = CACHE / f"maildir-{count}-s{seed}-v{VERSION}"
    if not (path / "cur").is_dir():
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        generate(partial, count, seed)
        partial.rename(path)
    return path


def generate(root, count, seed=SEED):
    """Write `count` messages into a new Maildir at `root`."""
    root = Path(root)
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for message in messages(count, seed):
        path = root / message.subdir / message.name
        path.write_bytes(message.data)
        os.utime(path, (message.mtime, message.mtime))


def messages(count, seed=SEED):
    """The messages, oldest first."""
    rng = random.Random(seed)
    corpus = _corpus(rng)
    ids = []
    for n in range(count):
        arrival = START + (n + rng.random()) * YEAR / count
        msgid = f"<{n}.{rng.getrandbits(40):010x}@{rng.choice(DOMAINS)}>"
        data = _message(rng, corpus, n, arrival, msgid, ids)
        ids.append(msgid)
        if rng.random() < 0.03:
            data = data.replace(b"\r\n", b"\n")
        subdir, info = _flags(rng, n, count)
        name = f"{int(arrival)}.M{rng.randrange(1_000_000)}P{n}.bench{info}"
        yield Message(name, subdir, arrival, data)


def _flags(rng, n, count):
    """(subdir, info): the newest few percent unread in new/, the rest in cur/."""
    if n >= count * 0.97:
        return "new", ""
    roll = rng.random()
    if roll < 0.04:
        return "cur", ":2,FS"
    if roll < 0.10:
        return "cur", ":2,RS"
    if roll < 0.15:
        return "cur", ":2,"
    return "cur", ":2,S"


def _corpus(rng):
    """Lines of pseudo-text that bodies are cut from."""
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 13)))
            for _ in range(4096)]


def _target_size(rng):
    # The parts' own headers and a last line come on top: keep room for them.
    return int(min(MAX_SIZE - 1024, max(MIN_SIZE, rng.lognormvariate(8.3, 0.8))))


def _message(rng, corpus, n, arrival, msgid, ids):
    size = _target_size(rng)
    header = _header(rng, n, arrival, msgid, ids)
    roll = rng.random()
    if roll < 0.08 and size > 6000:
        kind, body = _with_attachment(rng, corpus, n, size - len(header))
    elif roll < 0.20:
        kind, body = _alternative(rng, corpus, n, size - len(header))
    else:
        kind = "text/plain; charset=utf-8"
        body = _text(rng, corpus, size - len(header))
    header += f"Content-Type: {kind}\r\n"
    if kind.startswith("text/"):
        header += "Content-Transfer-Encoding: 8bit\r\n"
    return header.encode("utf-8") + b"\r\n" + body.encode("utf-8")


def _header(rng, n, arrival, msgid, ids):
    sender = rng.choice(PEOPLE)
    date = datetime.fromtimestamp(arrival - rng.randrange(2, 600), timezone.utc)
    relay = f"mx{n % 7}.example.org"
    received = format_datetime(datetime.fromtimestamp(arrival, timezone.utc))
    lines = [
        "Return-Path: <" + _address(sender, "example.org") + ">",
        f"Received: from {relay} ({relay} [192.0.2.{n % 250 + 1}])\r\n"
        f"\tby mail.example.test with ESMTPS id {n:08X}\r\n"
        f"\tfor <bench@example.test>; {received}",
        f"From: {_display(sender)} <{_address(sender, rng.choice(DOMAINS))}>",
        "To: Bench User <bench@example.test>",
    ]
    if rng.random() < 0.3:
        cc = rng.sample(PEOPLE, rng.randrange(1, 4))
        lines.append("Cc: " + ",\r\n ".join(f"{_display(p)} <{_address(p, 'example.net')}>"
                                           for p in cc))
    lines.append("Subject: " + _subject(rng, n, ids))
    lines += [f"Date: {format_datetime(date)}", f"Message-ID: {msgid}"]
    if ids and rng.random() < 0.3:
        parents = [ids[rng.randrange(max(0, len(ids) - 50), len(ids))] for _ in range(3)]
        lines += [f"In-Reply-To: {parents[-1]}", "References: " + "\r\n ".join(parents)]
    if rng.random() < 0.25:
        lst = rng.choice(LISTS)
        lines.append(f"List-Id: {lst.split('.')[0].title()} list <{lst}>")
    lines.append("MIME-Version: 1.0")
    return "\r\n".join(lines) + "\r\n"


def _address(person, domain):
    first, last = person.split()
    ascii_first = first.encode("ascii", "replace").decode().replace("?", "e").lower()
    return f"{ascii_first}.{last.lower()}@{domain}"


def _display(person):
    # RFC 2047 5(3): a non-ASCII display name as an encoded word.
    if person.isascii():
        return f'"{person}"'
    return "=?UTF-8?B?" + base64.b64encode(person.encode()).decode() + "?="


def _subject(rng, n, ids):
    roll = rng.random()
    if roll < 0.07:
        text = rng.choice(ENCODED)
        return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
    if roll < 0.10:
        # RFC 2047 4.2: Q encoding, "_" for a space.
        return "=?ISO-8859-1?Q?Caf=E9_cr=E8me_=E0_" + str(n % 100) + "?="
    prefix = "Re: " if ids and roll > 0.7 else ""
    return f"{prefix}{rng.choice(TOPICS)} #{n % 500}"


def _text(rng, corpus, size):
    """Lines from the corpus, about `size` bytes with CRLF."""
    lines, total = [], 0
    start = rng.randrange(len(corpus))
    while total < max(size, 40):
        line = corpus[(start + len(lines)) % len(corpus)]
        lines.append(line)
        total += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def _alternative(rng, corpus, n, size):
    boundary = f"=_alt_{n}_{rng.getrandbits(32):08x}"
    text = _text(rng, corpus, max(size, 200) // 2)
    html = "<html><body>\r\n" + "".join(f"<p>{line}</p>\r\n" for line in
                                       text.splitlines()[: size // 160 + 1]) \
        + "</body></html>\r\n"
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}"
            f"--{boundary}--\r\n")
    return f'multipart/alternative; boundary="{boundary}"', body


def _with_attachment(rng, corpus, n, size):
    boundary = f"=_mixed_{n}_{rng.getrandbits(32):08x}"
    text = _text(rng, corpus, 600)
    raw = rng.randbytes(max(256, (size - len(text) - 400) * 3 // 4))
    encoded = base64.encodebytes(raw).decode().replace("\n", "\r\n")
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
            f"--{boundary}\r\nContent-Type: application/pdf; name=\"report-{n}.pdf\"\r\n"
            f"Content-Disposition: attachment; filename=\"report-{n}.pdf\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
            f"--{boundary}--\r\n")
    return f'multipart/mixed; boundary="{boundary}"', body
