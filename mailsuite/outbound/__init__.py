"""Outbound delivery: where a domain's mail goes (dns), the SMTP client that
takes it there (client), the notices sent back to senders (dsn), and the
asynchronous remote path of deliverd that runs them (remote)."""
