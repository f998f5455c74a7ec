"""Maildir++ message store with a per-user LMDB index.

INTERFACE STUB — to be implemented. See docs/interfaces.md.
"""
