"""The transactional outbox: messages written on the caller's transaction, delivered after.

Will own the `messaging` schema: outbox rows enqueued in the same transaction as the change
they announce, claimed by workers with `FOR UPDATE SKIP LOCKED`, delivered as signed webhooks
with one attempt row per try, backoff by attempt count and a dead letter after N; and the
inbox that stores each incoming event once under (source, event id). A foundation: imports
neither the ledger nor anything above it.
"""

from __future__ import annotations
