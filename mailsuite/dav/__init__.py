"""davd's parts: CalDAV/CardDAV through Radicale (dav.backend), the login gate
and path checks in front of it (dav.gate)."""
