"""Ports of the inventory context: the saga participant ``StockLedger``, and what the
``InventoryService`` facade needs (its unit of work, the stock repository, the read model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bazaar.contexts.inventory.domain.model import Reservation, ReservationLine, StockLevel
from bazaar.kernel.domain import DomainEvent, UnitOfWork

__all__ = [
    "InventoryReadModel",
    "InventoryUnitOfWork",
    "StockLedger",
    "StockRepository",
]


class StockLedger(Protocol):
    """Reservations of stock, run inside the caller's open transaction; never commits.

    A transaction participant: the checkout saga builds it on its own unit of work's session
    and writes its saga log in the same transaction, so the step's effect and the log commit
    together or not at all. The caller commits; on any exception the caller rolls back,
    which also undoes a partially applied multi-line ``reserve``.
    """

    async def reserve(
        self,
        tenant_id: int,
        reservation_id: int,
        lines: Sequence[ReservationLine],
        *,
        expires_at: datetime,
        now: datetime,
    ) -> Reservation:
        """Hold ``lines`` until ``expires_at``: all lines or none.

        Idempotent on ``(tenant_id, reservation_id)``: an existing reservation is returned
        as it is, whatever its status and lines, and nothing changes. Duplicate product lines
        are merged; each product is taken by one conditional update, in product-id order (the
        one lock order every writer keeps, so two checkouts never deadlock on PostgreSQL).

        Raises:
            OutOfStockError: a product has fewer units available than asked (a product
                without a stock row has none). Earlier lines may have been taken: the
                caller must roll back.
            InvalidStockError: no lines, or a quantity below 1.
            ReservationIdConflictError: another tenant's reservation has this id.
        """
        ...

    async def release(self, tenant_id: int, reservation_id: int, *, now: datetime) -> bool:
        """Give a held reservation's units back (the compensation of ``reserve``).

        Returns:
            True when it was held and is now released; False when it is not held (released,
            committed, expired) or unknown: releasing again is harmless.
        """
        ...

    async def commit(self, tenant_id: int, reservation_id: int, *, now: datetime) -> Reservation:
        """Turn a held reservation's units into sold ones; idempotent once committed.

        A held reservation past ``expires_at`` that the expiry job has not reached yet still
        commits: its units are still set aside, and the job's conditional update then finds
        it no longer held (exactly one of the two wins).

        Raises:
            ReservationNotHeldError: it was released or expired (its units went back).
            ReservationNotFoundError: unknown for this tenant.
        """
        ...

    async def get(self, tenant_id: int, reservation_id: int) -> Reservation | None: ...


class StockRepository(Protocol):
    """Stock administration and the expiry job, in the unit of work's transaction."""

    async def set_available(
        self, tenant_id: int, product_id: int, available: int, *, now: datetime
    ) -> StockLevel:
        """Set the units free to reserve (creating the row); reserved and sold stay."""
        ...

    async def expire_held(self, now: datetime, *, limit: int) -> int:
        """Expire up to ``limit`` held reservations with ``expires_at <= now`` and give their
        units back; returns how many it expired."""
        ...


class InventoryReadModel(Protocol):
    """Reads outside any write transaction (SQLite's read-only pool; a replica later)."""

    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> dict[int, StockLevel]:
        """One query for the whole batch; products without a row are absent."""
        ...

    async def reservation(self, tenant_id: int, reservation_id: int) -> Reservation | None: ...


class InventoryUnitOfWork(UnitOfWork[DomainEvent], Protocol):
    """One transaction over the ledger and the stock repository (inventory raises no events)."""

    @property
    def ledger(self) -> StockLedger: ...

    @property
    def stock(self) -> StockRepository: ...
