"""The counters every daemon keeps, added up across processes for davd's /metrics.

prometheus_client's multi-process mode: each daemon writes its values to
memory-mapped files in STATE/metrics/, and davd's collector adds up the files of
every daemon. The files are named after the program rather than the process id
(systemd runs one process per program), so a daemon that exits when idle and starts
again goes on counting where it stopped, and the directory does not fill with the
files of exited processes. The mode is chosen when prometheus_client is first
imported, so `start()` names the directory before importing it. A process that
never calls `start()` (mailctl, unit tests) counts nothing and imports nothing.

    start(cfg, program)                  # once, in core.server.main
    received()  rejected()               # smtpd, submitd: a message queued / refused
    delivered(path, seconds)             # deliverd: path "local" or "remote";
    bounced()                            #   seconds from queueing to delivery
    login(ok)                            # core.login: a login's outcome
    with connection(): ...               # a client being served (core.server)
    registry(cfg) -> CollectorRegistry   # davd: every process's values
"""

import contextlib
import os

METRICS_DIR = "metrics"
_values = {}            # what this program counts -> its value; empty until start()
PATHS = ("local", "remote")


def start(cfg, program):
    """Count for `program` from now on, in the state dir's metrics directory.
    Every value this program may count is made here, so that the files behind
    them are open before a client arrives: a daemon out of file descriptors
    still counts (and never fails a session for it)."""
    directory = cfg.state_path(METRICS_DIR)
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    import prometheus_client as prom
    from prometheus_client import multiprocess, values
    # A killed predecessor left its "clients being served" behind: start at none.
    multiprocess.mark_process_dead(program, str(directory))
    values.ValueClass = values.MultiProcessValue(lambda: program)
    received = prom.Counter("mailsuite_messages_received",
                            "Messages accepted into the queue.", ["program"])
    rejected = prom.Counter("mailsuite_messages_rejected",
                            "Messages or recipients refused with a 5xx reply.",
                            ["program"])
    delivered = prom.Counter("mailsuite_messages_delivered",
                             "Recipients delivered, locally or to a remote host.",
                             ["path"])
    latency = prom.Histogram("mailsuite_delivery_seconds",
                             "Seconds from queueing to delivery.", ["path"],
                             buckets=(0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400))
    logins = prom.Counter("mailsuite_logins", "Logins by protocol and outcome.",
                          ["protocol", "result"])
    connections = prom.Gauge("mailsuite_connections", "Clients being served now.",
                             ["program"], multiprocess_mode="livesum")
    _values.update(
        received=received.labels(program), rejected=rejected.labels(program),
        bounced=prom.Counter("mailsuite_messages_bounced",
                             "Delivery status notifications of failure sent."),
        login_success=logins.labels(program, "success"),
        login_failure=logins.labels(program, "failure"),
        connections=connections.labels(program),
        **{f"delivered_{path}": delivered.labels(path) for path in PATHS},
        **{f"latency_{path}": latency.labels(path) for path in PATHS},
    )


def received():
    if _values:
        _values["received"].inc()


def rejected():
    if _values:
        _values["rejected"].inc()


def delivered(path, seconds):
    if _values:
        _values[f"delivered_{path}"].inc()
        _values[f"latency_{path}"].observe(max(seconds, 0.0))


def bounced():
    if _values:
        _values["bounced"].inc()


def login(ok):
    if _values:
        _values["login_success" if ok else "login_failure"].inc()


@contextlib.contextmanager
def connection():
    if not _values:
        yield
        return
    gauge = _values["connections"]
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def registry(cfg):
    """A registry holding every process's values, for one scrape."""
    directory = cfg.state_path(METRICS_DIR)
    from prometheus_client import CollectorRegistry, multiprocess
    collected = CollectorRegistry()
    if directory.is_dir():
        multiprocess.MultiProcessCollector(collected, path=str(directory))
    return collected
