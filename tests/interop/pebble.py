"""Debian's pebble (the ACME test CA) and pebble-challtestsrv on loopback.

challtestsrv is pebble's DNS: it answers every name with 127.0.0.1 and no IPv6
address, so pebble validates HTTP-01 on 127.0.0.1 at `http_port` (its httpPort),
where the test puts acmed. pebble's own HTTPS uses a self-signed certificate made
here, which acmed trusts through acmed.ca_bundle. PEBBLE_VA_NOSLEEP=1: no random
wait before validation; PEBBLE_WFE_NONCEREJECT=0: no nonce refused at random (a
real CA's badNonce is retried by python3-acme, RFC 8555 6.5, but only once, and
pebble's 5% would make the tests fail now and then); PEBBLE_AUTHZREUSE=0: every
order is validated afresh.
"""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from mailsuite.core import tls

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pebble:
    def __init__(self, base, http_port):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.http_port = http_port
        self.port = free_port()
        self.cert = self.base / "pebble-cert.pem"
        self.procs = []

    @property
    def directory(self):
        return f"https://127.0.0.1:{self.port}/dir"

    def config(self):
        """The [acmed] keys that point acmed at this CA."""
        return (f'[acmed]\ndirectory = "{self.directory}"\n'
                f'ca_bundle = "{self.cert}"\n')

    def start(self):
        key = self.base / "pebble-key.pem"
        tls.make_self_signed(self.cert, key, ["localhost", "127.0.0.1"])
        dns = free_port(socket.SOCK_DGRAM)
        self._spawn("challtestsrv", [
            CHALLTESTSRV, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", f"127.0.0.1:{dns}", "-http01", "", "-https01", "",
            "-tlsalpn01", "", "-management", f"127.0.0.1:{free_port()}"])
        config = self.base / "pebble.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(self.cert), "privateKey": str(key),
            "httpPort": self.http_port, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
        self._spawn("pebble", [PEBBLE, "-config", str(config),
                               "-dnsserver", f"127.0.0.1:{dns}"],
                    PEBBLE_VA_NOSLEEP="1", PEBBLE_AUTHZREUSE="0",
                    PEBBLE_WFE_NONCEREJECT="0")
        self._wait_listening(self.port)
        return self

    def _spawn(self, name, argv, **env):
        log = open(self.base / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env=dict(os.environ, **env), start_new_session=True))
        log.close()

    def _wait_listening(self, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                for proc in self.procs:
                    if proc.poll() is not None:
                        raise AssertionError(f"{proc.args[0]} exited: {self.log()}")
                time.sleep(0.05)
        raise AssertionError(f"pebble did not listen within {timeout} s: {self.log()}")

    def log(self):
        path = self.base / "pebble.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self):
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
