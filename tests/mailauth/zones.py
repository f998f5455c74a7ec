"""The test domains of the mailauth tests, served by Knot (tests/outbound_peers.py)
on loopback: SPF, DKIM and DMARC records for each outcome the checks can have.

    zones(rsa_record, ed25519_record) -> {zone: records}

A name outside these zones (TEMPERROR) is refused by Knot, which is what a
failing server looks like to the resolver: temperror.
"""

CLIENT = "127.0.0.1"
HELO = "mx.pass.test"
TEMPERROR = "temperror.test"


def txt(text):
    """A TXT record's data, cut into strings of at most 255 octets (RFC 1035)."""
    return " ".join(f'"{text[i:i + 200]}"' for i in range(0, len(text), 200))


def zones(rsa_record, ed25519_record):
    return {
        "pass.test": f"""
@ TXT {txt("v=spf1 ip4:" + CLIENT + " -all")}
_dmarc TXT {txt("v=DMARC1; p=reject")}
perl._domainkey TXT {txt(rsa_record)}
ed._domainkey TXT {txt(ed25519_record)}
""",
        # SPF fails, but the message is signed by the domain: DMARC passes.
        "signed.test": f"""
@ TXT {txt("v=spf1 -all")}
_dmarc TXT {txt("v=DMARC1; p=reject; adkim=s")}
perl._domainkey TXT {txt(rsa_record)}
ed._domainkey TXT {txt(ed25519_record)}
""",
        "reject.test": f"""
@ TXT {txt("v=spf1 -all")}
_dmarc TXT {txt("v=DMARC1; p=reject")}
""",
        "quarantine.test": f"""
@ TXT {txt("v=spf1 -all")}
_dmarc TXT {txt("v=DMARC1; p=quarantine")}
""",
        "softfail.test": f"""
@ TXT {txt("v=spf1 ~all")}
""",
        "neutral.test": f"""
@ TXT {txt("v=spf1 ?all")}
""",
        "none.test": """
@ A 192.0.2.1
""",
        "permerror.test": f"""
@ TXT {txt("v=spf1 ip4:not-an-address -all")}
_dmarc TXT {txt("v=DMARC1; p=bogus")}
""",
    }
