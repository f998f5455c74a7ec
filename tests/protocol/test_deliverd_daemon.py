"""deliverd as a daemon: started through the socket hand-off, woken by a datagram,
scanning the queue at start, stopping on SIGTERM, exiting when idle."""

import os
import signal
import time

from harness import wait_for
from mailsuite.core import notify
from mailsuite.core.spool import Spool, new_qid

USER = "demo@example.test"


def message(marker):
    return (f"From: <s@remote.test>\r\nTo: <{USER}>\r\nMessage-ID: <{marker}@test>\r\n"
            f"Subject: {marker}\r\n\r\nbody\r\n").encode()


def enqueue(inst, marker, recipients=(USER,)):
    with Spool(inst.state) as spool:
        spool.enqueue_sync(new_qid(), "s@remote.test", list(recipients), message(marker))


def queue_size(inst):
    with Spool(inst.state) as spool:
        return spool.count()


def inbox_files(inst):
    root = inst.maildir(USER)
    return sorted(os.listdir(root / "new")) if (root / "new").is_dir() else []


def wait_exit(pid, timeout=15):
    """The exit code of `pid`, or None if it is still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def set_idle_exit(inst, seconds):
    text = inst.config.read_text()
    inst.config.write_text(text.replace("idle_exit = 0", f"idle_exit = {seconds}"))


def test_queue_left_while_down_is_delivered_at_start(instance):
    instance.add_user(USER)
    for i in range(20):
        enqueue(instance, f"start-{i}")
    instance.start("deliverd")
    assert wait_for(lambda: queue_size(instance) == 0, timeout=60)
    assert len(inbox_files(instance)) == 20


def test_wakeup_hint_starts_a_pass(instance):
    instance.add_user(USER)
    instance.start("deliverd")
    enqueue(instance, "hint")
    notify.send(instance.runtime / "deliverd.wakeup")
    # scan_interval is 60 s: only the hint can explain a delivery this soon.
    assert wait_for(lambda: queue_size(instance) == 0, timeout=10)
    assert len(inbox_files(instance)) == 1
    assert "status=sent (delivered to maildir)" in instance.log("deliverd")


def test_sigterm_exits_cleanly(instance):
    instance.start("deliverd")
    pid = instance.pids.pop("deliverd")
    os.kill(pid, signal.SIGTERM)
    code = wait_exit(pid)
    if code is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert code == 0


def test_idle_exit_only_with_an_empty_queue(instance):
    instance.add_user(USER)
    set_idle_exit(instance, 1)
    instance.start("deliverd")
    pid = instance.pids.pop("deliverd")
    assert wait_exit(pid, timeout=15) == 0
    assert "idle" in instance.log("deliverd")
    # A deferred message keeps it running: it must try again later. (Its
    # route is a port where nothing listens: refused at once, deferred.)
    instance.add_config('[outbound]\nroutes = { "remote.test" = ["127.0.0.1:1"] }\n')
    enqueue(instance, "remote", ["someone@remote.test"])
    instance.start("deliverd")
    assert wait_for(lambda: "status=deferred" in instance.log("deliverd"), 10)
    time.sleep(2.5)
    instance.check_alive("deliverd")
