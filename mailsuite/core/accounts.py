"""Accounts: domains, users, aliases and catch-alls, in an LMDB environment.

INTERFACE STUB — to be implemented. Written by mailctl; read by every daemon (LMDB
gives lock-free readers across processes; each call opens a fresh read transaction so
changes made by mailctl are seen at once).

Contract (every daemon relies on exactly this):

    class AccountError(Exception)          # message is the user-facing text
    def split(address) -> (localpart, domain)
        # lowercased; raises AccountError("invalid address: ...") on bad syntax
    class Accounts:
        def __init__(self, state_dir)      # env at <state_dir>/accounts, created if missing
        def close(self)
        # domains
        def add_domain(self, name); remove_domain(self, name); domains(self) -> list[str]
        def is_local_domain(self, name) -> bool
        # users (address is "local@domain"; the domain must exist)
        def add_user(self, address, password, quota=0)
        def remove_user(self, address); set_password(self, address, password)
        def set_enabled(self, address, enabled: bool)
        def get_user(self, address) -> dict | None   # {"address","enabled","quota","created"}
        def users(self, domain=None) -> list[dict]
        def verify(self, address, password) -> bool
            # argon2id; takes the same time whether or not the user exists;
            # False for a disabled user
        # aliases ("@domain" as source is a catch-all)
        def add_alias(self, source, targets: list[str]); remove_alias(self, source)
        def aliases(self, domain=None) -> list[tuple[str, list[str]]]
        def resolve(self, address) -> list[str]
            # final recipients: the user itself, else its alias targets (recursively,
            # depth-limited), else the domain's catch-all; [] when nobody takes it
        def mailbox_dir(self, address) -> Path   # <state_dir>/mail/<domain>/<local>
"""
