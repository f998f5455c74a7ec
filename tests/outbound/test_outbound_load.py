"""A queue of 10,000 messages to 100 domains drains, with deliverd's connection
limits held: at most max_connections at once in all, at most
max_per_destination to one domain. The test counts deliverd's open
connections in the kernel's socket table (/proc/net/tcp) while it works; one
domain, big.test, has an MX address of its own.
"""

import asyncio
import collections
import socket
import struct
import threading

import pytest

from harness import wait_for
from mailsuite.core.spool import Spool, new_qid
from outbound_mx import RemoteMX
from outbound_peers import MX_ADDRESS, Knot

MESSAGES = 10_000
DOMAINS = [f"d{i}.load.test" for i in range(99)] + ["big.test"]
BIG_ADDRESS = "127.0.0.4"
BIG_SHARE = 2_000             # of the messages, for big.test
MAX_CONNECTIONS = 8
PER_DESTINATION = 3
ZONES = {
    "load.test": "".join(f"d{i} MX 10 mx\n" for i in range(99)) + f"mx A {MX_ADDRESS}\n",
    "big.test": f"@ MX 10 mx\nmx A {BIG_ADDRESS}\n",
}


@pytest.fixture(scope="module")
def load_peers(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot-load"), ZONES) as knot, \
            RemoteMX(domains=DOMAINS, addresses=(MX_ADDRESS, BIG_ADDRESS)) as mx:
        yield knot, mx


class ConnectionCounter(threading.Thread):
    """Samples the client side of the open TCP connections to `port`, per
    remote address, until stopped; keeps the most seen at once."""

    OPEN = {"01", "08"}           # ESTABLISHED, CLOSE_WAIT: not yet closed by us

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.most = collections.Counter()       # address -> most at once
        self.most_in_all = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.002):
            now = collections.Counter(dict(self._open()).values())
            for address, count in now.items():
                self.most[address] = max(self.most[address], count)
            self.most_in_all = max(self.most_in_all, sum(now.values()))

    def _open(self):
        """(local end, remote address) of each open client socket. The table
        is read in pieces while it changes, so a socket may be listed twice:
        its local end (our port) names it once."""
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                address, port = fields[2].split(":")
                if int(port, 16) == self.port and fields[3] in self.OPEN:
                    remote = socket.inet_ntoa(struct.pack("<I", int(address, 16)))
                    yield fields[1], remote


def recipient(i):
    if i < BIG_SHARE:
        return f"r{i}@big.test"
    return f"r{i}@{DOMAINS[i % 99]}"


async def fill(spool):
    """Queue every message; concurrent enqueues share commits."""
    for start in range(0, MESSAGES, 500):
        await asyncio.gather(*(
            spool.enqueue(new_qid(), "load@example.test", [recipient(i)],
                          f"Subject: load {i}\r\n\r\nbody\r\n".encode())
            for i in range(start, min(start + 500, MESSAGES))))


def test_ten_thousand_messages_to_a_hundred_domains(instance, load_peers):
    knot, mx = load_peers
    instance.add_config(f'[outbound]\nnameservers = ["{knot.nameserver}"]\n'
                        f"smtp_port = {mx.port}\nmax_connections = {MAX_CONNECTIONS}\n"
                        f"max_per_destination = {PER_DESTINATION}\n")
    counter = ConnectionCounter(mx.port)
    with Spool(instance.state) as spool:
        asyncio.run(fill(spool))
        counter.start()
        try:
            instance.start("deliverd")
            assert wait_for(lambda: spool.count() == 0, timeout=600, interval=0.5), \
                f"{spool.count()} messages left"
        finally:
            counter.stop.set()
            counter.join()
    assert wait_for(lambda: mx.log().count(": message-id=") >= MESSAGES, timeout=120)
    assert mx.log().count(": message-id=") == MESSAGES
    # The limits held, and were reached: the work did run in parallel.
    assert counter.most[BIG_ADDRESS] == PER_DESTINATION, counter.most
    assert counter.most_in_all == MAX_CONNECTIONS, counter.most
    log = instance.log("deliverd")
    assert log.count("status=sent") == MESSAGES
    assert "Traceback" not in log
