"""The outbound bench's code path (tests/bench/outbench.py) for deliverd only, on
a handful of messages into smtp-sink, so that `make bench` cannot rot unseen. No
Postfix and no timing asserted: only that the queue empties into the sink."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import outbench  # noqa: E402
from outbound_peers import Knot, free_port  # noqa: E402
from servers import wait_listening  # noqa: E402

COUNT = 5


def test_deliverd_empties_a_small_queue_into_the_sink(tmp_path):
    port = free_port()
    sink = subprocess.Popen([outbench.SMTP_SINK, "-u", "nobody", f"127.0.0.1:{port}",
                             "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        with Knot(tmp_path / "knot", outbench.ZONES) as knot:
            rate, startup = outbench.run_ours(tmp_path / "ours", knot, port, COUNT)
    finally:
        sink.terminate()
        sink.wait()
    assert rate > 0 and startup > 0
    # The report, with Postfix not measured, as when it is missing.
    outbench.report({"mailsuite": [(rate, startup)], "postfix": [None]}, COUNT)
    log = (tmp_path / "ours" / "deliverd.log").read_text()
    assert log.count("relay=mx.sink.test[127.0.0.1]") == COUNT
    assert log.count("status=sent") == COUNT
