"""A DNS budget (mailsuite.smtp.dnsquery.Budget's interface) answered from a
dict, for the unit tests of the checks: {(name, type): [text]}; names in `failing`
raise DnsTempError as a failing server would."""

import time

from mailsuite.smtp.dnsquery import DnsTempError


class FakeDns:
    def __init__(self, records, failing=(), seconds=10):
        self.deadline = time.monotonic() + seconds
        self.records = {(name.lower(), kind): list(texts)
                        for (name, kind), texts in records.items()}
        self.failing = {name.lower() for name in failing}
        self.asked = []

    def cached(self, name, rdtype):
        return None

    async def query(self, name, rdtype):
        name = name.rstrip(".").lower()
        self.asked.append((name, rdtype))
        if name in self.failing:
            raise DnsTempError(f"DNS lookup of {name} {rdtype} failed: SERVFAIL")
        return list(self.records.get((name, rdtype), []))
