"""The whole server on a full disk: smtpd, deliverd and imapd keep their state on a
small tmpfs that the test fills up.

While the disk is full, an SMTP message is refused with 451/452 (never a 5xx,
never a dropped connection) unless the queue still finds room for it, IMAP
changes are answered NO [UNAVAILABLE] and change neither flags nor files, and no
daemon logs a traceback. Once the filler is removed, every message that got a 250
is delivered exactly once and promptly: deliverd does not wait for its 300 s
retry backoff after a delivery failed for lack of space.

How the disk is made full for the IMAP commands: the last commit to the index
before the disk fills is a large one (one delivery pass of BATCH messages, which
takes up every free page of the index's file), and none follows it; LMDB reuses
the pages a commit frees only after a later commit, so any change needs pages
past the end of the file, which the full tmpfs refuses. (An IMAP command that
looks for other tools' changes, NOOP or SELECT, could start a background scan
that commits: the session sends none between the pass and the full disk.)
"""

import collections
import re
import smtplib

import pytest

from checks import PASSWORD, USER, assert_clean_log
from diskfull import imap_flags, mailbox_files
from harness import wait_for
from mailsuite.core.spool import Spool
from rawimap import RawImap

PROGRAMS = ("smtpd", "deliverd", "imapd")
BATCH = 150            # messages delivered in one pass before the disk fills
SENDS_WHEN_FULL = 20   # at most, alternately small and large
LARGE = 300 * 1024     # past the spool's INLINE_MAX: the message has its own file
PROMPT = 30            # seconds within which mail flows again (the backoff is 300)
MARKER = re.compile(rb"^Message-ID: <(full-[a-z]+-\d+)@test>", re.M)


def message(marker, size=0):
    # A long Subject makes what the index caches about each message large, so
    # that BATCH messages need more pages than any earlier commit freed.
    lines = "".join(f"line {n} of {marker}\r\n" for n in range(size // 20))
    return (f"From: <sender@remote.test>\r\nTo: <{USER}>\r\n"
            f"Message-ID: <{marker}@test>\r\nSubject: {marker} {'x' * 300}\r\n\r\n"
            f"body of {marker}\r\n{lines}")


class Sender:
    """One SMTP connection; records which markers got 250 and the other codes."""

    def __init__(self, port):
        self.smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
        self.accepted, self.refused = [], {}

    def send(self, marker, size=0):
        try:
            self.smtp.sendmail("sender@remote.test", [USER], message(marker, size))
        except smtplib.SMTPServerDisconnected as exc:
            pytest.fail(f"{marker}: the server dropped the connection: {exc}")
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            self.refused[marker] = exc.smtp_code
            return exc.smtp_code
        except smtplib.SMTPRecipientsRefused as exc:
            self.refused[marker] = exc.recipients[USER][0]
            return self.refused[marker]
        self.accepted.append(marker)
        return 250

    def close(self):
        self.smtp.quit()


def markers_in_maildir(instance):
    found = collections.Counter()
    for path in instance.inbox_files(USER):
        match = MARKER.search(path.read_bytes())
        found[match.group(1).decode() if match else f"stray:{path.name}"] += 1
    return found


def queue_size(instance):
    with Spool(instance.state) as spool:
        return spool.count()


def delivered(instance, markers):
    """True once every marker is in the Maildir and the queue is empty."""
    found = markers_in_maildir(instance)
    return all(found[m] for m in markers) and queue_size(instance) == 0


@pytest.fixture
def server(instance, small_disk):
    instance.add_user(USER, PASSWORD)
    instance.start(*PROGRAMS)
    yield instance
    for program in PROGRAMS:
        assert_clean_log(instance, program)


def test_full_disk_refuses_cleanly_and_mail_flows_once_space_returns(server, small_disk):
    smtp = Sender(server.port("smtp"))
    imap = mailbox_with_flags(server, smtp)
    deliver_in_one_pass(server, smtp)
    smtp.send("full-queued-0")
    smtp.send("full-queued-1", LARGE)
    files, flags = mailbox_files(server, USER), imap_flags(imap)

    small_disk.fill()
    log_at_fill = len(server.log("deliverd"))
    server.start("deliverd")
    assert wait_for(lambda: "No space left on device"
                    in server.log("deliverd")[log_at_fill:])
    codes = [smtp.send(f"full-during-{n}", LARGE if n % 2 else 0)
             for n in range(SENDS_WHEN_FULL)]
    assert set(codes) <= {250, 451, 452}, codes
    assert {451, 452} & set(codes), codes
    for command in ("STORE 3 +FLAGS (\\Deleted)", "UID STORE 2 -FLAGS (\\Flagged)",
                    "FETCH 3 BODY[]", "EXPUNGE"):
        tagged, untagged = imap.command(command, "full")
        assert tagged.startswith(b"full NO [UNAVAILABLE] "), (command, tagged)
        assert untagged == [], (command, untagged)
        assert mailbox_files(server, USER) == files, command

    small_disk.free()
    # deliverd's backoff after a deferral is 300 s: this is the pause for space.
    assert wait_for(lambda: delivered(server, smtp.accepted), timeout=PROMPT), \
        server.log("deliverd")[-3000:]
    smtp.send("full-after-0")
    assert wait_for(lambda: delivered(server, smtp.accepted)), server.log("deliverd")
    smtp.close()
    check_delivered_once(server, smtp, files)
    check_flags_kept(imap, flags)
    imap.close()


def mailbox_with_flags(server, smtp):
    """Three messages, the first \\Deleted and the second \\Flagged; returns an
    IMAP session with the INBOX selected."""
    for n in range(3):
        smtp.send(f"full-first-{n}")
    assert wait_for(lambda: delivered(server, smtp.accepted)), server.log("deliverd")
    imap = RawImap(server.port("imap"))
    imap.login()
    imap.command("SELECT INBOX", "select")
    for command in ("STORE 1 +FLAGS (\\Deleted)", "STORE 2 +FLAGS (\\Flagged)"):
        assert imap.command(command, "set")[0].startswith(b"set OK")
    return imap


def deliver_in_one_pass(server, smtp):
    """BATCH messages (one large) queued while deliverd is down, then delivered by
    one pass, one index commit; deliverd is left stopped."""
    server.stop("deliverd")
    for n in range(BATCH):
        smtp.send(f"full-batch-{n}", LARGE if n == 0 else 0)
    server.start("deliverd")
    assert wait_for(lambda: delivered(server, smtp.accepted)), server.log("deliverd")
    server.stop("deliverd")


def check_delivered_once(server, smtp, files):
    """Every message that got 250 is in the Maildir once, no refused one is, and
    the files that were there before the disk filled are there as they were."""
    found = markers_in_maildir(server)
    assert {m: n for m, n in found.items() if n != 1} == {}
    assert set(found) == set(smtp.accepted)
    assert not set(smtp.refused) & set(found)
    now = mailbox_files(server, USER)
    assert set(files) <= set(now) and len(now) == len(found)


def check_flags_kept(imap, flags):
    """The session hears of the new mail only (EXISTS, and RECENT: this session
    takes the new messages as \\Recent); the flags are as before the disk filled,
    and the EXPUNGE refused then is done now."""
    tagged, untagged = imap.command("NOOP", "noop")
    assert tagged.startswith(b"noop OK") and all(
        re.fullmatch(rb"\* \d+ (EXISTS|RECENT)\r\n", u) for u in untagged), untagged
    assert {uid: f for uid, f in imap_flags(imap).items() if uid in flags} == flags
    tagged, untagged = imap.command("EXPUNGE", "expunge")
    assert tagged.startswith(b"expunge OK") and untagged == [b"* 1 EXPUNGE\r\n"]
