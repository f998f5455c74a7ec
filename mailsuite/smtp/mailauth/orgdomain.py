"""Organizational domains (RFC 7489 3.2) from Debian's copy of the Public Suffix
List (package publicsuffix), read once per process.

    organizational(domain) -> str     # "mail.example.co.uk" -> "example.co.uk"

The list's rules (https://publicsuffix.org/list/): a name matches a rule label by
label from the right, "*" matching any one label; an exception rule ("!") wins and
names a registrable domain itself; with no rule matching, "*" applies (the top
label is a public suffix). The organizational domain is the public suffix and one
label more.

Failure policy: a list that cannot be read raises OSError at the first lookup
(a broken installation, not a message's doing).
"""

import functools

PATH = "/usr/share/publicsuffix/public_suffix_list.dat"


@functools.lru_cache(maxsize=1)
def _rules(path=PATH):
    rules, exceptions = set(), set()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            rule = line.split(None, 1)[0] if line.strip() else ""
            if not rule or rule.startswith("//"):
                continue
            if rule.startswith("!"):
                exceptions.add(rule[1:].lower())
            else:
                rules.add(rule.lower())
    return rules, exceptions


def public_suffix_length(labels, path=PATH):
    """How many of `labels`' rightmost labels make its public suffix."""
    rules, exceptions = _rules(path)
    best = 1
    for size in range(1, len(labels) + 1):
        name = ".".join(labels[-size:])
        if name in exceptions:
            return size - 1
        wildcard = ".".join(["*"] + labels[-size + 1:]) if size > 1 else "*"
        if name in rules or wildcard in rules:
            best = size
    return best


@functools.lru_cache(maxsize=4096)
def organizational(domain, path=PATH):
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    size = public_suffix_length(labels, path)
    if size >= len(labels):
        return domain
    return ".".join(labels[-(size + 1):])
