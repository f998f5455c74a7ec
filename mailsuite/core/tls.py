"""TLS server contexts, reloaded when the certificate files change.

One context per program; `Credentials.context()` is called for each new TLS session
and re-reads the files only when their modification time changed, so a renewed
certificate (from acmed or certbot) is used without a restart. A reload that fails
keeps the previous certificate and logs why.
"""

import logging
import os
import ssl

log = logging.getLogger(__name__)


class TLSUnavailable(Exception):
    """No usable certificate: the program serves no TLS."""


class Credentials:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key
        self._stamp = None
        self._ctx = None

    def _files_stamp(self):
        try:
            return tuple(os.stat(p).st_mtime_ns for p in (self.cert, self.key))
        except OSError:
            return None

    def context(self):
        """The current SSLContext; raises TLSUnavailable if none can be built."""
        stamp = self._files_stamp()
        if stamp is not None and stamp != self._stamp:
            try:
                self._ctx = server_context(self.cert, self.key)
                self._stamp = stamp
            except (OSError, ssl.SSLError) as exc:
                log.error("tls: cannot load %s: %s", self.cert, exc)
        if self._ctx is None:
            raise TLSUnavailable(f"no usable certificate in {self.cert}")
        return self._ctx

    def available(self):
        try:
            self.context()
            return True
        except TLSUnavailable:
            return False


def server_context(cert, key):
    """A server SSLContext with TLS 1.2 as the floor (RFC 8996, RFC 9325)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cert, key)
    return ctx


def from_config(cfg):
    return Credentials(cfg.tls.cert, cfg.tls.key)
