# mailsuite: `make run` serves mail on 127.0.0.1, `make test` runs every test.
PYTHON := /usr/bin/python3
export PYTHON

# Seconds one test may run before its stack is dumped (pytest's faulthandler), and
# seconds the whole run may take before it is stopped. pytest-timeout is used
# for a hard per-test limit when it happens to be installed.
TEST_TIMEOUT ?= 300
SUITE_TIMEOUT ?= 3600
PYTEST_ARGS ?=

PYTEST_TIMEOUT_OPT := $(shell $(PYTHON) -c 'import pytest_timeout' 2>/dev/null \
	&& echo --timeout=$(TEST_TIMEOUT))

# Test workers (pytest-xdist): most tests wait on daemons and peers rather than
# compute, so two run side by side; each module stays on one worker
# (tests/conftest.py). TEST_WORKERS=0 runs them one at a time.
TEST_WORKERS ?= 2
PYTEST_WORKERS_OPT = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

.PHONY: all run test bench deps clean deb

all: test

deps:
	@tools/install-deps

# PORT_OFFSET=N adds N to every dev port (a second instance, or a port in use).
# ACME_ONCE=1 renews the certificate once through acmed.directory's CA.
PORT_OFFSET ?= 0
ACME_ONCE ?=

run:
	@tools/install-deps --run
	bin/mailsuite-dev --port-offset $(PORT_OFFSET) $(if $(ACME_ONCE),--acme-once)

# pytest exits 5 when it collected no test; like every other non-zero status,
# make treats it as a failure.
test: deps
	timeout --foreground -k 30 $(SUITE_TIMEOUT) \
		$(PYTHON) -m pytest -q -o faulthandler_timeout=$(TEST_TIMEOUT) \
		$(PYTEST_TIMEOUT_OPT) $(PYTEST_WORKERS_OPT) $(PYTEST_ARGS) tests

# The SMTP bench against a private Postfix, smtpd with its sender checks on and
# off (tests/bench/authbench.py), the outbound bench (deliverd and Postfix
# emptying one queue into smtp-sink, tests/bench/outbench.py), the submission
# bench (submitd with and without DKIM signing, and Postfix with opendkim
# milters, tests/bench/submitbench.py), then the IMAP and POP3 benches against a
# private Dovecot (tests/bench/imapbench.py, popbench.py); the install adds
# opendkim, postfix-policyd-spf-python, dovecot-imapd and dovecot-pop3d.
bench:
	@tools/install-deps --bench
	$(PYTHON) tests/bench/bench.py
	$(PYTHON) tests/bench/authbench.py
	$(PYTHON) tests/bench/outbench.py
	$(PYTHON) tests/bench/submitbench.py
	$(PYTHON) tests/bench/imapbench.py
	$(PYTHON) tests/bench/popbench.py

# The Debian package, built from a temporary copy of the tree with PATH limited to
# the system's directories: build/deb/mailsuite_<version>_all.deb. DEB_VERSION
# builds the same tree under another version, e.g. an older one for upgrade tests:
#   make deb DEB_VERSION=0.0.1-1
DEB_VERSION ?=
deb: deps
	tools/build-deb $(DEB_VERSION)

clean:
	rm -rf .dev
