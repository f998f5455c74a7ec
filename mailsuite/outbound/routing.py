"""Where a recipient's mail goes: the queue it joins and the hosts to try for
that queue, from the [outbound] configuration.

    routing = Routing(cfg.outbound, resolver)     # raises ConfigError
    routing.destination(address) -> str          # the queue's name
    await routing.hosts(destination) -> [Target(host, port, login)]

A domain in `routes` goes to its route's hosts, in order (failover), with no
MX lookup and no login; else, with `relay_host`, every domain goes to the
relay host (one queue for all), logged in when `relay_user` is set; else to
the domain's mail hosts (outbound.dns) on `smtp_port`.

Failure policy: a relay password file that cannot be read is a ConfigError
at start; a route host without an address is passed over, unless none of the
route's hosts has one (DeliveryFailed, as for any lookup).
"""

from typing import NamedTuple

from ..core.config import ConfigError, relay_address
from .client import Login
from .dns import Host
from .status import DeliveryFailed


class Target(NamedTuple):
    host: Host
    port: int
    login: Login | None


class Routing:
    def __init__(self, out, resolver):
        self.resolver = resolver
        self.port = out.smtp_port
        self.relay = relay_address(out.relay_host) if out.relay_host else None
        self.routes = {domain.lower().rstrip("."): [relay_address(h) for h in hosts]
                       for domain, hosts in out.routes.items()}
        self.login = _login(out) if out.relay_host and out.relay_user else None

    def destination(self, address):
        """The queue a recipient joins: its domain's (routed or not), or the
        relay host's, which takes every other domain's mail."""
        domain = address.rpartition("@")[2].lower()
        if self.relay is not None and domain not in self.routes:
            return f"[relay {self.relay[0]}]"
        return domain

    def is_mx(self, destination):
        """Whether the hosts of `destination` are its MX hosts (not a route's
        nor the relay host), to which its MTA-STS and DANE policies apply."""
        return destination not in self.routes and self.relay is None

    async def hosts(self, destination):
        """The Targets for `destination`, in the order to try; raises
        DeliveryFailed."""
        if destination in self.routes:
            return await self._route(self.routes[destination])
        if self.relay is not None:
            hosts = await self.resolver.host(self.relay[0])
            return [Target(host, self.relay[1], self.login) for host in hosts]
        hosts = await self.resolver.route(destination)
        return [Target(host, self.port, None) for host in hosts]

    async def _route(self, hosts):
        found, failure = [], None
        for name, port in hosts:
            try:
                found += [Target(host, port, None)
                          for host in await self.resolver.host(name)]
            except DeliveryFailed as exc:
                failure = exc
        if not found:
            raise failure
        return found


def _login(out):
    """The relay login: the user, and the first line of the password file;
    raises ConfigError."""
    if not out.relay_password_file:
        raise ConfigError("outbound.relay_user is set: outbound.relay_password_file "
                          "must name the file with its password")
    try:
        with open(out.relay_password_file, encoding="utf-8") as file:
            password = file.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{out.relay_password_file}: cannot read the relay "
                          f"password: {getattr(exc, 'strerror', None) or exc}") from None
    return Login(out.relay_user, password)
