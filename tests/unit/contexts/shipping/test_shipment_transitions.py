"""The shipping domain: which moves a shipment makes, its events, its read-only address."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bazaar.contexts.shipping import (
    InvalidShipmentTransitionError,
    Shipment,
    ShipmentAlreadyDispatchedError,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentStatus,
    ShipmentStatusChanged,
)
from bazaar.contexts.shipping.adapters import InMemoryShipmentBook, InMemoryShippingState
from bazaar.contexts.shipping.domain import may_cancel, moves_forward, require_aware
from bazaar.kernel.messaging.events import envelope_of

NOW = datetime(2030, 1, 1, tzinfo=UTC)
S = ShipmentStatus


def a_shipment(status: ShipmentStatus) -> Shipment:
    return Shipment(
        id=1,
        tenant_id=2,
        order_id=3,
        status=status,
        address={"city": "Oslo"},
        created_at=NOW,
        updated_at=NOW,
    )


class TestMovesForward:
    @pytest.mark.parametrize(
        ("current", "requested", "moves"),
        [
            (S.CREATED, S.SHIPPED, True),
            (S.CREATED, S.DELIVERED, True),
            (S.SHIPPED, S.DELIVERED, True),
            (S.SHIPPED, S.SHIPPED, False),
            (S.DELIVERED, S.SHIPPED, False),
            (S.DELIVERED, S.DELIVERED, False),
        ],
    )
    def test_only_forward_moves_change_a_shipment(
        self, current: ShipmentStatus, requested: ShipmentStatus, moves: bool
    ) -> None:
        assert moves_forward(a_shipment(current), requested) is moves

    @pytest.mark.parametrize(
        ("current", "requested"),
        [
            (S.CANCELLED, S.SHIPPED),
            (S.CANCELLED, S.DELIVERED),
            (S.CREATED, S.CREATED),
            (S.CREATED, S.CANCELLED),
        ],
    )
    def test_cancelled_shipments_and_backward_targets_are_refused(
        self, current: ShipmentStatus, requested: ShipmentStatus
    ) -> None:
        with pytest.raises(InvalidShipmentTransitionError) as caught:
            moves_forward(a_shipment(current), requested)
        assert (caught.value.current, caught.value.requested) == (current, requested)


class TestMayCancel:
    def test_a_created_shipment_is_cancelled_and_a_cancelled_one_left_alone(self) -> None:
        assert may_cancel(a_shipment(S.CREATED)) is True
        assert may_cancel(a_shipment(S.CANCELLED)) is False

    @pytest.mark.parametrize("status", [S.SHIPPED, S.DELIVERED])
    def test_a_dispatched_shipment_cannot_be_cancelled(self, status: ShipmentStatus) -> None:
        with pytest.raises(ShipmentAlreadyDispatchedError) as caught:
            may_cancel(a_shipment(status))
        assert caught.value.status is status


class TestEventsAndValues:
    def test_events_are_typed_and_ordered_per_order(self) -> None:
        common = {"occurred_at": NOW, "tenant_id": 2, "shipment_id": 1, "order_id": 3}
        events = [
            ShipmentCreated(id=10, **common),
            ShipmentCancelled(id=11, **common),
            ShipmentStatusChanged(id=12, previous=S.CREATED, status=S.SHIPPED, **common),
        ]
        assert [e.type for e in events] == [
            "shipping.shipment_created",
            "shipping.shipment_cancelled",
            "shipping.shipment_status_changed",
        ]
        assert {e.partition_key for e in events} == {"3"}
        envelope = envelope_of(events[2])
        assert (envelope.topic, envelope.key) == ("shipping", "3")
        assert envelope.payload["status"] == "shipped"

    def test_the_address_is_a_read_only_copy(self) -> None:
        given = {"city": "Oslo"}
        shipment = Shipment(
            id=1,
            tenant_id=2,
            order_id=3,
            status=S.CREATED,
            address=given,
            created_at=NOW,
            updated_at=NOW,
        )
        given["city"] = "Bergen"
        assert shipment.address == {"city": "Oslo"}
        assert shipment == a_shipment(S.CREATED)
        with pytest.raises(TypeError):
            shipment.address["city"] = "Bergen"  # type: ignore[index]  # read-only on purpose


class TestTime:
    async def test_naive_datetimes_are_refused(self) -> None:
        book = InMemoryShipmentBook(InMemoryShippingState())
        with pytest.raises(ValueError, match="naive"):
            await book.create(1, 2, 3, {}, now=datetime(2030, 1, 1))
        assert require_aware("now", NOW) == NOW
