"""The master.cf of the private Postfix instances that tests and benchmarks run
(the remote MX, the relay host, the bench's servers): the instance's own smtpd
listeners, then Postfix's internal services, none chrooted. A service that an
instance never uses is only never started.

    master_cf(listeners) -> str     # listeners: master.cf lines of smtpd services
"""

INTERNAL_SERVICES = """\
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def master_cf(listeners):
    return listeners + INTERNAL_SERVICES


def loopback_smtpd(port):
    """The one listener of a bench's Postfix: smtpd on 127.0.0.1:`port`."""
    return f"127.0.0.1:{port} inet n - n - - smtpd\n"
