"""The inventory domain: stock levels, reservations and their errors (no I/O)."""

from __future__ import annotations

from bazaar.contexts.inventory.domain.model import (
    DEFAULT_RESERVATION_TTL,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    merge_lines,
    require_aware,
)

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockLevel",
    "merge_lines",
    "require_aware",
]
