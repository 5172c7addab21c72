"""The inventory domain and its in-memory fakes, without an engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bazaar.contexts.inventory import (
    DEFAULT_RESERVATION_TTL,
    InvalidStockError,
    OutOfStockError,
    ReservationLine,
    ReservationNotHeldError,
    ReservationStatus,
    StockLevel,
)
from bazaar.contexts.inventory.adapters import InMemoryInventoryState, InMemoryStockLedger
from bazaar.contexts.inventory.domain import merge_lines, require_aware

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class TestMergeLines:
    def test_merges_duplicate_products_and_sorts_by_product(self) -> None:
        lines = [ReservationLine(9, 1), ReservationLine(2, 2), ReservationLine(9, 4)]
        assert merge_lines(lines) == (ReservationLine(2, 2), ReservationLine(9, 5))

    def test_refuses_no_lines(self) -> None:
        with pytest.raises(InvalidStockError) as caught:
            merge_lines([])
        assert caught.value.field == "lines"

    @pytest.mark.parametrize("quantity", [0, -3])
    def test_refuses_a_line_without_units(self, quantity: int) -> None:
        with pytest.raises(InvalidStockError) as caught:
            merge_lines([ReservationLine(1, 1), ReservationLine(2, quantity)])
        assert caught.value.field == "lines[1].quantity"


class TestValues:
    def test_an_unstocked_product_has_nothing(self) -> None:
        assert StockLevel.empty(7) == StockLevel(7, 0, 0, 0)

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="expires_at"):
            require_aware("expires_at", datetime(2030, 1, 1))

    def test_the_default_hold_is_fifteen_minutes(self) -> None:
        assert timedelta(minutes=15) == DEFAULT_RESERVATION_TTL

    def test_errors_carry_their_fields(self) -> None:
        out = OutOfStockError(product_id=3, requested=5, available=2)
        assert (out.product_id, out.requested, out.available) == (3, 5, 2)
        not_held = ReservationNotHeldError(8, ReservationStatus.EXPIRED)
        assert (not_held.reservation_id, not_held.status) == (8, ReservationStatus.EXPIRED)
        assert "expired" in str(not_held)


class TestInMemoryFakes:
    async def test_a_refused_reservation_changes_nothing_even_without_a_rollback(self) -> None:
        state = InMemoryInventoryState()
        state.stock[(1, 1)] = StockLevel(1, 5, 0, 0)
        ledger = InMemoryStockLedger(state)
        with pytest.raises(OutOfStockError):
            await ledger.reserve(
                1,
                10,
                [ReservationLine(1, 2), ReservationLine(2, 1)],
                expires_at=NOW + DEFAULT_RESERVATION_TTL,
                now=NOW,
            )
        assert state.level(1, 1) == StockLevel(1, 5, 0, 0)
        assert state.reservations == {}

    async def test_the_unit_of_work_rolls_back_unless_committed(self) -> None:
        state = InMemoryInventoryState()
        async with state.unit_of_work() as uow:
            await uow.stock.set_available(1, 1, 5, now=NOW)
        assert state.stock == {}
        async with state.unit_of_work() as uow:
            await uow.stock.set_available(1, 1, 5, now=NOW)
            await uow.ledger.reserve(
                1, 10, [ReservationLine(1, 2)], expires_at=NOW + DEFAULT_RESERVATION_TTL, now=NOW
            )
            await uow.commit()
        assert state.level(1, 1) == StockLevel(1, 3, 2, 0)
        assert state.commits == 1
