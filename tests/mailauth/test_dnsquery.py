"""The checks' resolver (mailsuite.smtp.dnsquery) against a real authoritative
server: Knot on loopback (tests/outbound_peers.py)."""

import asyncio

import pytest

from outbound_peers import Knot, free_port
from mailsuite.smtp.dnsquery import DnsQuery, DnsTempError

ZONES = {"query.test": """
@ TXT "v=spf1 " "-all"
@ MX 10 mx
mx A 192.0.2.25
mx AAAA 2001:db8::25
alias CNAME mx
"""}


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot"), ZONES) as server:
        yield server


def ask(knot, name, rdtype, timeout=2.0):
    return asyncio.run(DnsQuery([("127.0.0.1", knot.port)], timeout).query(name, rdtype))


def test_records_as_text(knot):
    assert ask(knot, "query.test", "TXT") == ["v=spf1 -all"]    # strings joined
    assert ask(knot, "query.test", "MX") == ["10 mx.query.test"]
    assert ask(knot, "mx.query.test", "AAAA") == ["2001:db8::25"]
    assert ask(knot, "alias.query.test", "A") == ["192.0.2.25"]


def test_no_such_name_or_no_data_is_empty(knot):
    assert ask(knot, "nowhere.query.test", "TXT") == []
    assert ask(knot, "mx.query.test", "TXT") == []
    assert ask(knot, "a" * 70 + ".query.test", "TXT") == []     # a label too long


def test_a_refused_query_is_a_temporary_error(knot):
    with pytest.raises(DnsTempError):
        ask(knot, "elsewhere.test", "TXT")


def test_a_silent_server_is_a_temporary_error():
    port = free_port()          # nothing answers there
    with pytest.raises(DnsTempError, match="timed out"):
        asyncio.run(DnsQuery([("127.0.0.1", port)], 0.3).query("query.test", "TXT"))


def test_a_spent_budget_is_a_temporary_error(knot):
    async def spent():
        budget = DnsQuery([("127.0.0.1", knot.port)], 2.0).budget(0)
        await budget.query("query.test", "TXT")
    with pytest.raises(DnsTempError, match="budget"):
        asyncio.run(spent())


def test_answers_are_kept_for_their_ttl(knot):
    # The last test of the module: it stops the server.
    async def twice():
        q = DnsQuery([("127.0.0.1", knot.port)], 2.0)
        first = await q.query("mx.query.test", "A")
        knot.stop()             # the second answer can only come from the cache
        return first, await q.query("mx.query.test", "A"), q.cached("MX.query.test.", "A")
    assert asyncio.run(twice()) == (["192.0.2.25"], ["192.0.2.25"], ["192.0.2.25"])
