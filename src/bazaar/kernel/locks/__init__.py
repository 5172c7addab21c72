"""Leases with fencing tokens (capabilities §7.8): one active relay, consumer or cron run at a time.

A ``LeaseStore`` grants expiring leases (in memory, in a SQL table, or in Redis with Lua);
``LeaseKeeper`` holds one in the background for a leader loop and notices when it is lost.
``PgAdvisoryLock`` is the PostgreSQL-only alternative without TTL or fencing token.
"""

from __future__ import annotations

from bazaar.kernel.locks.errors import LeaseLostError, LeaseStoreError, LockError
from bazaar.kernel.locks.keeper import KeeperState, LeaseKeeper
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.locks.ports import Lease, LeaseStore, validate_ttl
from bazaar.kernel.locks.postgres_advisory import PgAdvisoryLock, advisory_key
from bazaar.kernel.locks.redis import RedisLeaseStore
from bazaar.kernel.locks.sqlalchemy import SqlLeaseStore, lease_table

__all__ = [
    "InMemoryLeaseStore",
    "KeeperState",
    "Lease",
    "LeaseKeeper",
    "LeaseLostError",
    "LeaseStore",
    "LeaseStoreError",
    "LockError",
    "PgAdvisoryLock",
    "RedisLeaseStore",
    "SqlLeaseStore",
    "advisory_key",
    "lease_table",
    "validate_ttl",
]
