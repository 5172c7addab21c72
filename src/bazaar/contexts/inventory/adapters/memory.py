"""In-memory inventory: the ledger, the stock repository, a unit of work and the read model
over one shared ``InMemoryInventoryState`` (unit tests; the fakes ship with the ports)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from bazaar.contexts.inventory.domain.errors import (
    OutOfStockError,
    ReservationIdConflictError,
    ReservationNotFoundError,
    ReservationNotHeldError,
)
from bazaar.contexts.inventory.domain.model import (
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    merge_lines,
    require_aware,
)
from bazaar.kernel.domain import DomainEvent

__all__ = [
    "InMemoryInventoryReadModel",
    "InMemoryInventoryState",
    "InMemoryInventoryUnitOfWork",
    "InMemoryStockLedger",
    "InMemoryStockRepository",
]


@dataclasses.dataclass
class InMemoryInventoryState:
    """The committed state, shared by every in-memory adapter built on it; inspect it in tests.

    ``stock`` is keyed by ``(tenant_id, product_id)``.
    """

    stock: dict[tuple[int, int], StockLevel] = dataclasses.field(default_factory=dict)
    reservations: dict[int, Reservation] = dataclasses.field(default_factory=dict)
    commits: int = 0

    def level(self, tenant_id: int, product_id: int) -> StockLevel:
        return self.stock.get((tenant_id, product_id)) or StockLevel.empty(product_id)

    def unit_of_work(self) -> InMemoryInventoryUnitOfWork:
        return InMemoryInventoryUnitOfWork(self)

    def move_units(
        self,
        tenant_id: int,
        lines: Sequence[ReservationLine],
        *,
        available: int,
        reserved: int,
        sold: int,
    ) -> None:
        """Move each line's units between buckets (signs say which way)."""
        for line in lines:
            level = self.level(tenant_id, line.product_id)
            self.stock[(tenant_id, line.product_id)] = StockLevel(
                line.product_id,
                level.available + available * line.quantity,
                level.reserved + reserved * line.quantity,
                level.sold + sold * line.quantity,
            )

    def leave_held(
        self, tenant_id: int, reservation_id: int, status: ReservationStatus, now: datetime
    ) -> Reservation | None:
        """Move a held reservation to ``status``; None when it is not held (or unknown)."""
        reservation = self.reservations.get(reservation_id)
        if (
            reservation is None
            or reservation.tenant_id != tenant_id
            or reservation.status is not ReservationStatus.HELD
        ):
            return None
        moved = dataclasses.replace(reservation, status=status, updated_at=now)
        self.reservations[reservation_id] = moved
        return moved


class InMemoryStockLedger:
    """``StockLedger`` over the shared state.

    Each call is atomic by itself (no await inside), so a refused ``reserve`` changes
    nothing even without a unit of work to roll back.
    """

    def __init__(self, state: InMemoryInventoryState) -> None:
        self._state = state

    async def reserve(
        self,
        tenant_id: int,
        reservation_id: int,
        lines: Sequence[ReservationLine],
        *,
        expires_at: datetime,
        now: datetime,
    ) -> Reservation:
        merged = merge_lines(lines)
        expires_at = require_aware("expires_at", expires_at).astimezone(UTC)
        now = require_aware("now", now).astimezone(UTC)
        existing = self._state.reservations.get(reservation_id)
        if existing is not None:
            if existing.tenant_id != tenant_id:
                raise ReservationIdConflictError(reservation_id)
            return existing
        for line in merged:
            available = self._state.level(tenant_id, line.product_id).available
            if available < line.quantity:
                raise OutOfStockError(line.product_id, line.quantity, available)
        self._state.move_units(tenant_id, merged, available=-1, reserved=+1, sold=0)
        reservation = Reservation(
            id=reservation_id,
            tenant_id=tenant_id,
            lines=merged,
            status=ReservationStatus.HELD,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        self._state.reservations[reservation_id] = reservation
        return reservation

    async def release(self, tenant_id: int, reservation_id: int, *, now: datetime) -> bool:
        now = require_aware("now", now).astimezone(UTC)
        released = self._state.leave_held(
            tenant_id, reservation_id, ReservationStatus.RELEASED, now
        )
        if released is None:
            return False
        self._state.move_units(tenant_id, released.lines, available=+1, reserved=-1, sold=0)
        return True

    async def commit(self, tenant_id: int, reservation_id: int, *, now: datetime) -> Reservation:
        now = require_aware("now", now).astimezone(UTC)
        committed = self._state.leave_held(
            tenant_id, reservation_id, ReservationStatus.COMMITTED, now
        )
        if committed is None:
            existing = await self.get(tenant_id, reservation_id)
            if existing is None:
                raise ReservationNotFoundError(reservation_id)
            if existing.status is ReservationStatus.COMMITTED:
                return existing
            raise ReservationNotHeldError(reservation_id, existing.status)
        self._state.move_units(tenant_id, committed.lines, available=0, reserved=-1, sold=+1)
        return committed

    async def get(self, tenant_id: int, reservation_id: int) -> Reservation | None:
        reservation = self._state.reservations.get(reservation_id)
        return (
            reservation if reservation is not None and reservation.tenant_id == tenant_id else None
        )


class InMemoryStockRepository:
    def __init__(self, state: InMemoryInventoryState) -> None:
        self._state = state

    async def set_available(
        self, tenant_id: int, product_id: int, available: int, *, now: datetime
    ) -> StockLevel:
        level = dataclasses.replace(self._state.level(tenant_id, product_id), available=available)
        self._state.stock[(tenant_id, product_id)] = level
        return level

    async def expire_held(self, now: datetime, *, limit: int) -> int:
        due = sorted(
            (
                r
                for r in self._state.reservations.values()
                if r.status is ReservationStatus.HELD and r.expires_at <= now
            ),
            key=lambda r: r.expires_at,
        )[:limit]
        for reservation in due:
            self._state.leave_held(
                reservation.tenant_id, reservation.id, ReservationStatus.EXPIRED, now
            )
            self._state.move_units(
                reservation.tenant_id, reservation.lines, available=+1, reserved=-1, sold=0
            )
        return len(due)


class InMemoryInventoryUnitOfWork:
    """Works on the state directly and restores a snapshot unless ``commit()`` runs."""

    def __init__(self, state: InMemoryInventoryState) -> None:
        self._state = state
        self.events: list[DomainEvent] = []
        self.committed = False
        self._snapshot: tuple[dict[tuple[int, int], StockLevel], dict[int, Reservation]] | None
        self._snapshot = None
        self.ledger = InMemoryStockLedger(state)
        self.stock = InMemoryStockRepository(state)

    async def __aenter__(self) -> Self:
        self.committed = False
        # Values are frozen: shallow copies of the dicts are a full snapshot.
        self._snapshot = (dict(self._state.stock), dict(self._state.reservations))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            await self.rollback()
        self._snapshot = None

    async def commit(self) -> None:
        self.committed = True
        self._state.commits += 1

    async def rollback(self) -> None:
        if self._snapshot is not None:
            self._state.stock, self._state.reservations = (
                dict(self._snapshot[0]),
                dict(self._snapshot[1]),
            )


class InMemoryInventoryReadModel:
    def __init__(self, state: InMemoryInventoryState) -> None:
        self._state = state

    async def stock_levels(
        self, tenant_id: int, product_ids: Sequence[int]
    ) -> dict[int, StockLevel]:
        return {
            pid: self._state.stock[(tenant_id, pid)]
            for pid in product_ids
            if (tenant_id, pid) in self._state.stock
        }

    async def reservation(self, tenant_id: int, reservation_id: int) -> Reservation | None:
        reservation = self._state.reservations.get(reservation_id)
        return (
            reservation if reservation is not None and reservation.tenant_id == tenant_id else None
        )
