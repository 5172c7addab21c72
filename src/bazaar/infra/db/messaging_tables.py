"""Deployment-wide tables every context shares: outbox, inbox, dead letters, cron runs, leases.

They belong to no bounded context: each context's unit of work writes its events to the
one outbox and its consumers' records to the one inbox (migration ``0003_messaging``).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from bazaar.kernel.jobs.sqlalchemy import cron_run_table
from bazaar.kernel.locks.sqlalchemy import lease_table
from bazaar.kernel.messaging.sqlalchemy import (
    dead_letter_table,
    inbox_table,
    outbox_table,
)

__all__ = ["cron_runs", "dead_letters", "inbox", "leases", "metadata", "outbox"]

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
dead_letters = dead_letter_table(metadata)
cron_runs = cron_run_table(metadata)
leases = lease_table(metadata)
