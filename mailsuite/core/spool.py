"""The queue: messages accepted and not yet final, in an LMDB environment.

INTERFACE STUB — to be implemented.

Contract:

    def new_qid() -> str        # 14 chars of [0-9A-Z], sortable by arrival time
    class Spool:
        def __init__(self, state_dir)   # env at <state_dir>/spool
        async def enqueue(self, qid, sender, recipients: list[str], data: bytes,
                          info: dict = None)
            # returns only once the message is durable (fsync'ed). Concurrent callers
            # in one process share commits (group commit: one fsync for a batch).
        def enqueue_sync(self, qid, sender, recipients, data, info=None)
        ... (queue-runner side: due(), load(), update(), remove(): deliverd's business)
"""
