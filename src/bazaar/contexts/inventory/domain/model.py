"""Stock levels and reservations of the inventory context (values; no I/O).

A product's units are in exactly one of three buckets, and every move keeps their sum::

    available ──reserve──► reserved ──commit──► sold
        ▲                      │
        └──release / expire────┘

A reservation holds its lines' units for a TTL::

    held ──commit──► committed
      ├──release───► released      (compensation: the checkout failed or was cancelled)
      └──expire────► expired       (the scheduled job, once ``expires_at`` has passed)

Only ``held`` moves; the other three are final.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bazaar.contexts.inventory.domain.errors import InvalidStockError

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockLevel",
    "merge_lines",
    "require_aware",
]

# capabilities §5.2: a reservation holds stock for 15 minutes unless told otherwise.
DEFAULT_RESERVATION_TTL = timedelta(minutes=15)


class ReservationStatus(enum.StrEnum):
    HELD = "held"
    RELEASED = "released"
    COMMITTED = "committed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A product's units: free to reserve, held by reservations, sold."""

    product_id: int
    available: int
    reserved: int
    sold: int

    @classmethod
    def empty(cls, product_id: int) -> StockLevel:
        """A product nobody stocked yet: nothing available."""
        return cls(product_id, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class ReservationLine:
    product_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """Units held for one checkout; ``lines`` are merged per product, sorted by product id."""

    id: int
    tenant_id: int
    lines: tuple[ReservationLine, ...]
    status: ReservationStatus
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


def merge_lines(lines: Iterable[ReservationLine]) -> tuple[ReservationLine, ...]:
    """One line per product, sorted by product id (the lock order of every stock update).

    Raises:
        InvalidStockError: no lines, or a quantity below 1.
    """
    totals: dict[int, int] = {}
    for index, line in enumerate(lines):
        if line.quantity < 1:
            raise InvalidStockError(f"lines[{index}].quantity", "must be at least 1")
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    if not totals:
        raise InvalidStockError("lines", "a reservation needs at least one line")
    return tuple(ReservationLine(pid, totals[pid]) for pid in sorted(totals))


def require_aware(name: str, value: datetime) -> datetime:
    """``value`` if it carries a time zone (naive datetimes are ambiguous).

    Raises:
        ValueError: ``value`` is naive.
    """
    if value.tzinfo is None:
        raise ValueError(f"{name}: naive datetimes are ambiguous; pass an aware UTC datetime")
    return value
