"""Tests for the deadline value, its context variable and the per-call timeout rule."""

from __future__ import annotations

import asyncio

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.deadline import (
    ClientDisconnected,
    Deadline,
    DeadlineExceeded,
    DeadlineExceededError,
    DeadlineListener,
    RecordingListener,
    current_deadline,
    deadline_scope,
    remaining_s,
    timeout_for,
)
from bazaar.kernel.errors import KernelError


class TestDeadline:
    def test_is_an_absolute_point_on_the_monotonic_clock(self) -> None:
        clock = ManualClock()
        clock.advance(100.0)
        assert Deadline.after(2.5, clock).expires_at == 102.5

    def test_remaining_shrinks_as_time_passes_and_stops_at_zero(self) -> None:
        clock = ManualClock()
        deadline = Deadline.after(2.0, clock)
        clock.advance(1.5)
        assert deadline.remaining_s() == 0.5
        assert not deadline.expired
        clock.advance(1.0)
        assert deadline.remaining_s() == 0.0
        assert deadline.expired

    def test_earliest_keeps_the_sooner_deadline(self) -> None:
        clock = ManualClock()
        soon, late = Deadline.after(1.0, clock), Deadline.after(5.0, clock)
        assert late.earliest(soon) is soon
        assert soon.earliest(late) is soon
        assert soon.earliest(None) is soon

    def test_compares_by_time_only(self) -> None:
        assert Deadline(5.0, ManualClock()) == Deadline(5.0, ManualClock())

    @pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
    def test_refuses_a_budget_that_is_not_finite_and_non_negative(self, seconds: float) -> None:
        with pytest.raises(ValueError, match="finite"):
            Deadline.after(seconds, ManualClock())


class TestDeadlineScope:
    def test_there_is_no_deadline_outside_a_scope(self) -> None:
        assert current_deadline() is None
        assert remaining_s() is None

    def test_sets_the_deadline_for_the_block_and_restores_it(self) -> None:
        clock = ManualClock()
        with deadline_scope(3.0, clock) as deadline:
            assert current_deadline() is deadline
            assert remaining_s() == 3.0
        assert current_deadline() is None

    def test_restores_the_deadline_when_the_block_raises(self) -> None:
        with pytest.raises(RuntimeError), deadline_scope(3.0, ManualClock()):
            raise RuntimeError("boom")
        assert current_deadline() is None

    def test_a_nested_scope_can_shorten_the_budget(self) -> None:
        clock = ManualClock()
        with deadline_scope(10.0, clock) as outer:
            with deadline_scope(2.0, clock):
                assert remaining_s() == 2.0
            assert current_deadline() is outer

    def test_a_nested_scope_cannot_extend_the_budget(self) -> None:
        clock = ManualClock()
        with deadline_scope(2.0, clock) as outer, deadline_scope(30.0, clock) as inner:
            assert inner is outer
            assert remaining_s() == 2.0

    def test_a_scope_cannot_be_entered_twice_at_once(self) -> None:
        scope = deadline_scope(1.0, ManualClock())
        with scope, pytest.raises(RuntimeError, match="twice"), scope:
            pass
        assert current_deadline() is None

    async def test_tasks_started_in_the_scope_inherit_the_deadline(self) -> None:
        clock = ManualClock()

        async def downstream() -> float | None:
            return remaining_s()

        with deadline_scope(4.0, clock):
            task = asyncio.create_task(downstream())
        assert await task == 4.0

    async def test_a_scope_opened_in_a_task_does_not_leak_to_its_parent(self) -> None:
        clock = ManualClock()

        async def child() -> None:
            with deadline_scope(1.0, clock):
                await asyncio.sleep(0)

        await asyncio.create_task(child())
        assert current_deadline() is None


class TestTimeoutFor:
    def test_is_the_own_timeout_without_a_deadline(self) -> None:
        assert timeout_for(2.0) == 2.0

    def test_is_the_own_timeout_when_more_time_remains(self) -> None:
        with deadline_scope(10.0, ManualClock()):
            assert timeout_for(2.0) == 2.0

    def test_is_capped_by_what_the_deadline_leaves(self) -> None:
        clock = ManualClock()
        with deadline_scope(10.0, clock):
            clock.advance(9.25)
            assert timeout_for(2.0) == 0.75

    def test_raises_once_nothing_remains(self) -> None:
        clock = ManualClock()
        with deadline_scope(1.0, clock):
            clock.advance(1.5)
            with pytest.raises(DeadlineExceededError) as caught:
                timeout_for(2.0)
        assert caught.value.overdue_s == 0.5
        assert isinstance(caught.value, KernelError)

    def test_raises_exactly_at_the_deadline(self) -> None:
        clock = ManualClock()
        with deadline_scope(1.0, clock):
            clock.advance(1.0)
            with pytest.raises(DeadlineExceededError):
                timeout_for(2.0)

    @pytest.mark.parametrize("own", [0.0, -1.0, float("nan")])
    def test_refuses_an_own_timeout_that_is_not_positive(self, own: float) -> None:
        with pytest.raises(ValueError, match="positive"):
            timeout_for(own)


class TestRecordingListener:
    def test_keeps_events_in_order(self) -> None:
        listener: DeadlineListener = RecordingListener()
        first = DeadlineExceeded(budget_s=10.0, elapsed_s=10.0, response_started=False)
        second = ClientDisconnected(elapsed_s=1.0, response_started=True)
        listener.on_event(first)
        listener.on_event(second)
        assert isinstance(listener, RecordingListener)
        assert listener.events == [first, second]
