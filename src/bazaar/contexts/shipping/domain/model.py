"""Shipments of the shipping context (values and transition rules; no I/O).

One shipment per order, created and cancelled as a checkout saga step, then moved on by
the carrier's status updates::

    created ──ship──► shipped ──deliver──► delivered
       └──cancel──► cancelled     (only before it is dispatched)

Status updates arrive as events, at least once and not necessarily in order: moving to a
status the shipment already reached or passed changes nothing, and a later status may skip
one (delivered straight from created).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from bazaar.contexts.shipping.domain.errors import (
    InvalidShipmentTransitionError,
    ShipmentAlreadyDispatchedError,
)

__all__ = ["Shipment", "ShipmentStatus", "may_cancel", "moves_forward", "require_aware"]


class ShipmentStatus(enum.StrEnum):
    CREATED = "created"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


# How far along the delivery path each status is; cancelled is off the path.
_PROGRESS = {ShipmentStatus.CREATED: 0, ShipmentStatus.SHIPPED: 1, ShipmentStatus.DELIVERED: 2}


@dataclass(frozen=True, slots=True)
class Shipment:
    """The shipment of one order; ``address`` is a read-only copy of what it was given."""

    id: int
    tenant_id: int
    order_id: int
    status: ShipmentStatus
    address: Mapping[str, str] = field(repr=False)
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", MappingProxyType(dict(self.address)))


def moves_forward(shipment: Shipment, requested: ShipmentStatus) -> bool:
    """Whether moving ``shipment`` to ``requested`` changes it (False: already there or past).

    Raises:
        InvalidShipmentTransitionError: ``requested`` is not shipped or delivered, or the
            shipment was cancelled.
    """
    if requested not in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED) or (
        shipment.status is ShipmentStatus.CANCELLED
    ):
        raise InvalidShipmentTransitionError(shipment.id, shipment.status, requested)
    return _PROGRESS[requested] > _PROGRESS[shipment.status]


def may_cancel(shipment: Shipment) -> bool:
    """Whether cancelling changes ``shipment`` (False: it is cancelled already).

    Raises:
        ShipmentAlreadyDispatchedError: it was shipped or delivered.
    """
    if shipment.status in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED):
        raise ShipmentAlreadyDispatchedError(shipment.id, shipment.status)
    return shipment.status is ShipmentStatus.CREATED


def require_aware(name: str, value: datetime) -> datetime:
    """``value`` in UTC, if it carries a time zone (naive datetimes are ambiguous).

    Raises:
        ValueError: ``value`` is naive.
    """
    if value.tzinfo is None:
        raise ValueError(f"{name}: naive datetimes are ambiguous; pass an aware UTC datetime")
    return value.astimezone(UTC)
