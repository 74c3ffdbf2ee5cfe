"""The importer: poll each integration, find session tokens in new records, attach them to sessions.

- ``extract``: find every token in a record.
- ``correlate``: verify tokens and decide, per record and token, attach or reject (with a reason).
- ``leases``: claim due integrations so that one worker polls each at a time.
- ``poll``: one poll of one integration, committed atomically with its checkpoint.
- ``worker``: the long-running loop (``replaylink worker`` and ``replaylink serve``).
- ``backfill``: ``replaylink import`` over a past window.
"""
