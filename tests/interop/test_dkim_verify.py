"""DKIM signatures made by core.dkim, verified by independent verifiers from Debian,
which look the keys up in DNS: knot serves the records `mailctl dns` printed
(tests/interop/dnsns.py).

- opendkim-testmsg (opendkim-tools, libopendkim 2.11): rsa-sha256 and
  ed25519-sha256 (RFC 8463), one signature per message;
- Mail::DKIM (libmail-dkim-perl 1.20230212): rsa-sha256; that version has no
  Ed25519 (it reports such a signature as not verifiable, never as a pass).

Each message is also checked with its body changed after signing: both
verifiers must then refuse it, so a verifier that accepts anything fails here.
"""

import asyncio
import shutil
from pathlib import Path

import pytest

from harness import Instance
from dnsns import run_with_zone
from mailsuite.core import config
from mailsuite.core.dkim import Signer
from mailsuite.core.spool import Spool, new_qid

HERE = Path(__file__).resolve().parent
VERIFY = ('for f in "$@"; do echo "== $f"; opendkim-testmsg < "$f" 2>&1; '
          'echo "opendkim $?"; perl ' + str(HERE / "mail_dkim_verify.pl")
          + ' < "$f" 2>&1; done')

HEAD = (b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.org>\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n")
MESSAGES = {
    "plain": HEAD + b"Subject: plain\r\n\r\nHello Bob,\r\n\r\nsee you.\r\n",
    "8bit": HEAD + "Subject: =?utf-8?q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    "X-Note: d\u00e9j\u00e0 vu\r\n\r\n\u00c7a va tr\u00e8s bien, \u65e5\u672c\r\n"
    .encode(),
    "long headers": HEAD + b"Subject: " + b"long " * 200 + b"\r\nReferences: "
    + b"\r\n ".join(b"<%d.thread@example.test>" % n for n in range(300))
    + b"\r\n\r\n" + b"x" * 5000 + b"\r\n",
    # libopendkim requires a Date field (RFC 5322 3.6), as receivers may.
    "folded headers": b"From: Alice\r\n  <alice@example.test>\r\nTo:\tbob@example.org,"
    b"\r\n\t carol@example.org \r\nSubject:  folded \t  and\r\n  spaced  \r\n"
    b"Cc: dave@example.org\r\nReply-To: a@example.test\r\n"
    b"Date:\r\n Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n"
    b"  lead  and trail  \t\r\n\r\n\t\r\nend\r\n\r\n\r\n",
    "lf line ends": (HEAD + b"Subject: unix\r\n\r\nline one  \r\n\r\nline two\r\n")
    .replace(b"\r\n", b"\n"),
    "empty body": HEAD + b"Subject: nothing\r\n\r\n",
    "no final line end": HEAD + b"Subject: cut\r\n\r\nno newline at the end",
}


def tamper(message):
    return message[:-4] + b"XX" + message[-2:]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """{file name: (opendkim exit status, output lines)} for every signed file."""
    base = tmp_path_factory.mktemp("dkim")
    inst = Instance(base / "inst")
    try:
        inst.mailctl("domain", "add", "example.test")
        inst.mailctl("dkim", "generate", "example.test")
        records = inst.mailctl("dns", "example.test").stdout.splitlines()
        signer = Signer.load(config.load(inst.config))
        files = _signed_files(base / "signed", signer, inst)
        proc = run_with_zone(base / "dns", "example.test", records,
                             ["/bin/sh", "-c", VERIFY, "sh", *map(str, files)], b"")
        assert proc.returncode == 0, proc.stderr.decode()
        return _parse(proc.stdout.decode())
    finally:
        inst.close()


def _signed_files(directory, signer, inst):
    """For each message: one file per signature, and the tampered copies."""
    directory.mkdir()
    out = []
    for name, message in MESSAGES.items():
        header = signer.headers("example.test", message)
        if b"\r\n" not in message:
            # A file with LF line ends gets its fields with LF line ends too.
            header = header.replace(b"\r\n", b"\n")
        out += _write(directory, name.replace(" ", "-"), header,
                      lambda f, m=message: f.write(m))
    path, size = _big_spool_message(inst)
    with open(path, "rb") as source:
        header = signer.headers("example.test", path)
        assert source.seek(0, 2) == size

    def copy(target):
        with open(path, "rb") as source:
            shutil.copyfileobj(source, target)
    return out + _write(directory, "spool-file", header, copy, tampered=False)


def _write(directory, stem, header, write_message, tampered=True):
    ed, rsa = [b"DKIM-Signature:" + f for f in header.split(b"DKIM-Signature:")[1:]]
    paths = []
    for kind, fields in (("ed25519", ed), ("rsa", rsa), ("both", ed + rsa)):
        path = directory / f"{stem}.{kind}"
        with open(path, "wb") as target:
            target.write(fields)
            write_message(target)
        paths.append(path)
        if tampered and kind != "both":
            bad = directory / f"{stem}.{kind}.tampered"
            bad.write_bytes(tamper(path.read_bytes()))
            paths.append(bad)
    return paths


def _big_spool_message(inst):
    """A 12 MiB message in its spool file, written as smtpd writes one."""
    qid = new_qid()
    lines = [b"Line %d of a big message,  with  spaces \t\r\n" % n for n in range(1000)]
    with Spool(inst.state) as spool:
        draft = spool.draft(qid)

        async def fill():
            await draft.write(HEAD + b"Subject: big\r\n\r\n")
            for _ in range(300):
                await draft.write(b"".join(lines))
        asyncio.run(fill())
        spool.enqueue_sync(qid, "alice@example.test", ["bob@example.org"], draft)
    path = inst.state / "spool" / "files" / qid
    return path, path.stat().st_size


def _parse(output):
    found, name = {}, None
    for line in output.splitlines():
        if line.startswith("== "):
            name = Path(line[3:]).name
            found[name] = [None, []]
        elif line.startswith("opendkim "):
            found[name][0] = int(line.split()[1])
        else:
            found[name][1].append(line)
    return found


def mail_dkim(lines):
    """{algorithm: result} from the Mail::DKIM lines."""
    return {line.split()[0]: line.split(None, 2)[2] for line in lines
            if line.startswith(("rsa-", "ed25519-"))}


@pytest.mark.parametrize("stem", [name.replace(" ", "-") for name in MESSAGES]
                         + ["spool-file"])
def test_signatures_verify(verdicts, stem):
    for kind in ("ed25519", "rsa"):
        status, lines = verdicts[f"{stem}.{kind}"]
        assert status == 0, (kind, lines)
    assert mail_dkim(verdicts[f"{stem}.rsa"][1]) == {"rsa-sha256": "pass"}
    both = mail_dkim(verdicts[f"{stem}.both"][1])
    assert both["rsa-sha256"] == "pass"
    assert both["ed25519-sha256"] != "pass"     # not known to this Mail::DKIM


@pytest.mark.parametrize("stem", [name.replace(" ", "-") for name in MESSAGES])
def test_a_changed_body_fails(verdicts, stem):
    for kind in ("ed25519", "rsa"):
        status, lines = verdicts[f"{stem}.{kind}.tampered"]
        assert status != 0, (kind, lines)
    assert mail_dkim(verdicts[f"{stem}.rsa.tampered"][1])["rsa-sha256"].startswith("fail")
