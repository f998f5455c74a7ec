"""The inbound checks' DNS queries (reverse DNS, DNSBLs), through dnspython's
asynchronous resolver: a slow server costs the session that asked, never the
event loop.

    q = DnsQuery(nameservers, timeout)     # [(address, port)]; [] = the system's
    await q.query(name, rdtype) -> [str]   # each record's text; [] for no data
    DnsTempError                           # SERVFAIL, timeout, no server answered

Built from `[outbound] nameservers`, the suite's one resolver setting. Answers
are cached for their TTL.
"""

import dns.asyncresolver
import dns.exception
import dns.resolver


class DnsTempError(Exception):
    """The lookup failed for now (the message says which and why): a check that
    needed it reports temperror."""


class DnsQuery:
    def __init__(self, nameservers=(), timeout=10.0):
        self.timeout = timeout
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        self._resolver.cache = dns.resolver.Cache()
        if nameservers:
            self._resolver.nameservers = [host for host, _ in nameservers]
            self._resolver.nameserver_ports = dict(nameservers)

    async def query(self, name, rdtype):
        """The text of each record of `name`; [] for NXDOMAIN or no data."""
        try:
            answer = await self._resolver.resolve(name, rdtype, lifetime=self.timeout,
                                                  search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise DnsTempError(f"{name} {rdtype}: timed out") from None
        except dns.exception.DNSException as exc:
            raise DnsTempError(f"{name} {rdtype}: {exc}") from None
        return [rdata.to_text() for rdata in answer]
