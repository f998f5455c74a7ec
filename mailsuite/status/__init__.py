"""davd's status pages: /health and /metrics (mailsuite.status.app)."""
