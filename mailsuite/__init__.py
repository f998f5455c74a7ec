"""mailsuite: a self-hosted mail server for Debian."""

__version__ = "0.1.0"
