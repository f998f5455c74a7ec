"""ACME (RFC 8555) certificates for the suite, with python3-acme.

One certificate covers the mail host name and the extra names of acmed.names (the
autoconfig and mta-sts names of each domain by default). The pieces:

    certinfo   what a certificate file holds (names, issuer, expiry), and whether
               it is due for renewal
    status     STATE/acme/status.json: the last attempt, its result, the back-off
    account    the account key (made once) and the account at the CA (found, not
               recreated)
    order      one issuance: key, CSR, HTTP-01 challenges, finalization
    renew      the decision and the run: used by acmed and `mailctl cert renew`
    web        the port-80 WSGI application: challenge tokens, else a redirect

Failure policy: the certificate in use is replaced only by a complete new one
(key and chain, each written atomically); a failed attempt is logged with the
CA's problem document, recorded, and retried after a growing back-off.
"""
