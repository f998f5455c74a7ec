"""The POP3 protocol (RFC 1939, with CAPA from RFC 2449, STLS from RFC 2595, AUTH
from RFC 5034 and the response codes of RFC 2449 8 and RFC 3206), served by pop3d
over the core's mailbox store: the session loop (session), logging in (auth), the
maildrop a session sees and its verbs (maildrop, transaction), the one-session-per-
mailbox lock (lock) and the shape of answers (replies).
"""
