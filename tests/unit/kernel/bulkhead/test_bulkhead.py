"""Tests for the bulkhead: bounded slots, a bounded FIFO queue, timeouts and cancellation."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.bulkhead import (
    Admission,
    Bulkhead,
    BulkheadError,
    BulkheadFullError,
    BulkheadRejected,
    BulkheadReleaseError,
    BulkheadSnapshot,
    BulkheadTimedOut,
    BulkheadTimeoutError,
    RecordingListener,
    admit,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError, KernelError


def make(
    max_concurrent: int = 1,
    max_queue: int = 2,
    queue_timeout_s: float | None = None,
    listener: RecordingListener | None = None,
) -> Bulkhead:
    return Bulkhead(
        "psp", max_concurrent, max_queue, queue_timeout_s, ManualClock(), listener=listener
    )


async def settle(rounds: int = 5) -> None:
    """Let every task that can run take its turn (no wall-clock waiting)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class TestAdmit:
    def test_enters_while_a_slot_is_free_and_nobody_waits(self) -> None:
        assert admit(in_use=1, queued=0, max_concurrent=2, max_queue=1) is Admission.ENTER

    def test_queues_behind_earlier_waiters_even_with_a_free_slot(self) -> None:
        assert admit(in_use=1, queued=1, max_concurrent=2, max_queue=2) is Admission.QUEUE

    def test_queues_while_all_slots_are_busy(self) -> None:
        assert admit(in_use=2, queued=0, max_concurrent=2, max_queue=1) is Admission.QUEUE

    def test_rejects_when_the_queue_is_full(self) -> None:
        assert admit(in_use=2, queued=1, max_concurrent=2, max_queue=1) is Admission.REJECT

    def test_rejects_at_once_without_a_queue(self) -> None:
        assert admit(in_use=2, queued=0, max_concurrent=2, max_queue=0) is Admission.REJECT


class TestBulkhead:
    async def test_admits_up_to_max_concurrent_without_waiting(self) -> None:
        bulkhead = make(max_concurrent=3)
        for _ in range(3):
            await bulkhead.acquire()
        assert bulkhead.snapshot() == BulkheadSnapshot("psp", 3, 2, 3, 0, 0, 0)

    async def test_slot_is_released_on_exit_and_on_error(self) -> None:
        bulkhead = make()
        async with bulkhead.slot():
            assert bulkhead.in_use == 1
        with pytest.raises(RuntimeError):
            async with bulkhead.slot():
                raise RuntimeError("boom")
        assert bulkhead.in_use == 0

    async def test_waiters_are_served_first_come_first_served(self) -> None:
        bulkhead = make(max_concurrent=1, max_queue=3)
        await bulkhead.acquire()
        order: list[int] = []

        async def waiter(n: int) -> None:
            async with bulkhead.slot():
                order.append(n)

        tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
        await settle()
        assert bulkhead.queued == 3
        bulkhead.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]
        assert bulkhead.in_use == 0

    async def test_a_released_slot_goes_to_the_queue_not_to_a_newcomer(self) -> None:
        bulkhead = make(max_concurrent=1, max_queue=2)
        await bulkhead.acquire()
        queued = asyncio.create_task(bulkhead.acquire())
        await settle()
        bulkhead.release()  # handed to the waiter, which has not resumed yet
        newcomer = asyncio.create_task(bulkhead.acquire())
        await settle()
        assert queued.done()
        assert not newcomer.done()
        assert (bulkhead.in_use, bulkhead.queued) == (1, 1)
        bulkhead.release()
        await newcomer
        bulkhead.release()
        assert bulkhead.in_use == 0

    async def test_refuses_at_once_when_the_queue_is_full(self) -> None:
        listener = RecordingListener()
        bulkhead = make(max_concurrent=1, max_queue=1, listener=listener)
        await bulkhead.acquire()
        waiting = asyncio.create_task(bulkhead.acquire())
        await settle()
        with pytest.raises(BulkheadFullError) as caught:
            await bulkhead.acquire()
        assert (caught.value.name, caught.value.max_concurrent, caught.value.max_queue) == (
            "psp",
            1,
            1,
        )
        assert listener.events == [BulkheadRejected("psp", in_use=1, queued=1)]
        assert bulkhead.snapshot().rejected == 1
        waiting.cancel()
        await settle()

    async def test_without_a_queue_refuses_as_soon_as_the_slots_are_busy(self) -> None:
        bulkhead = make(max_concurrent=1, max_queue=0)
        await bulkhead.acquire()
        with pytest.raises(BulkheadFullError):
            await bulkhead.acquire()

    async def test_a_waiter_times_out_after_the_queue_timeout(self) -> None:
        listener = RecordingListener()
        # A real (tiny) timeout: the holder never releases, so the outcome does not depend
        # on how fast the machine is, only the 1 ms wait does.
        bulkhead = make(max_concurrent=1, max_queue=1, queue_timeout_s=0.001, listener=listener)
        await bulkhead.acquire()
        with pytest.raises(BulkheadTimeoutError) as caught:
            await bulkhead.acquire()
        assert caught.value.name == "psp"
        assert caught.value.waited_s == 0.0  # measured on the ManualClock, which stood still
        assert listener.events == [BulkheadTimedOut("psp", 0.0)]
        assert bulkhead.snapshot() == BulkheadSnapshot("psp", 1, 1, 1, 0, 0, 1)

    async def test_a_shorter_max_wait_bounds_the_wait(self) -> None:
        bulkhead = make(max_concurrent=1, queue_timeout_s=60.0)
        await bulkhead.acquire()
        with pytest.raises(BulkheadTimeoutError):
            await bulkhead.acquire(max_wait_s=0.001)
        assert bulkhead.queued == 0

    async def test_a_slot_handed_over_as_the_timer_fires_is_kept(self) -> None:
        bulkhead = make(max_concurrent=1)
        await bulkhead.acquire()
        # max_wait_s=0 schedules the timeout for the loop's next turn; the release below
        # hands the slot over before that turn, so both land together.
        waiter = asyncio.create_task(bulkhead.acquire(max_wait_s=0.0))
        await asyncio.sleep(0)
        assert bulkhead.queued == 1
        bulkhead.release()
        await waiter  # no BulkheadTimeoutError: the slot arrived in time
        assert (bulkhead.in_use, bulkhead.queued) == (1, 0)

    async def test_a_cancelled_waiter_leaves_the_queue(self) -> None:
        bulkhead = make(max_concurrent=1)
        await bulkhead.acquire()
        waiter = asyncio.create_task(bulkhead.acquire())
        await settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (bulkhead.in_use, bulkhead.queued) == (1, 0)
        bulkhead.release()
        assert bulkhead.in_use == 0

    async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on(self) -> None:
        bulkhead = make(max_concurrent=1, max_queue=2)
        await bulkhead.acquire()
        first = asyncio.create_task(bulkhead.acquire())
        second = asyncio.create_task(bulkhead.acquire())
        await settle()
        bulkhead.release()  # the slot is now first's, but first has not resumed
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second  # the slot moved on instead of leaking
        assert (bulkhead.in_use, bulkhead.queued) == (1, 0)
        bulkhead.release()
        assert bulkhead.in_use == 0

    async def test_a_lone_waiter_cancelled_after_the_handover_frees_the_slot(self) -> None:
        bulkhead = make(max_concurrent=1)
        await bulkhead.acquire()
        waiter = asyncio.create_task(bulkhead.acquire())
        await settle()
        bulkhead.release()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (bulkhead.in_use, bulkhead.queued) == (0, 0)

    async def test_release_skips_waiters_cancelled_but_not_yet_resumed(self) -> None:
        bulkhead = make(max_concurrent=1, max_queue=2)
        await bulkhead.acquire()
        first = asyncio.create_task(bulkhead.acquire())
        second = asyncio.create_task(bulkhead.acquire())
        await settle()
        first.cancel()  # its future is cancelled now; its task resumes only later
        bulkhead.release()
        await second
        with pytest.raises(asyncio.CancelledError):
            await first
        assert (bulkhead.in_use, bulkhead.queued) == (1, 0)

    async def test_refuses_a_release_without_a_slot(self) -> None:
        with pytest.raises(BulkheadReleaseError) as caught:
            make().release()
        assert caught.value.name == "psp"

    @pytest.mark.parametrize(
        ("args", "key"),
        [
            ((0, 1, None), "max_concurrent"),
            ((1, -1, None), "max_queue"),
            ((1, 1, 0.0), "queue_timeout_s"),
            ((1, 1, float("inf")), "queue_timeout_s"),
        ],
    )
    def test_refuses_invalid_limits_naming_the_key(
        self, args: tuple[int, int, float | None], key: str
    ) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Bulkhead("psp", *args, ManualClock())
        assert caught.value.key == key


async def fuzz(ops: list[tuple[str, int]], max_concurrent: int, max_queue: int) -> None:
    bulkhead = Bulkhead("fuzz", max_concurrent, max_queue, None, ManualClock())
    inside = 0
    peak = 0
    workers: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    async def worker(done: asyncio.Event) -> None:
        nonlocal inside, peak
        async with bulkhead.slot():
            inside += 1
            peak = max(peak, inside)
            try:
                await done.wait()
            finally:
                inside -= 1

    for op, n in ops:
        if op == "spawn":
            done = asyncio.Event()
            workers.append((asyncio.create_task(worker(done)), done))
        elif op == "finish" and workers:
            workers[n % len(workers)][1].set()
        elif op == "cancel" and workers:
            workers[n % len(workers)][0].cancel()
        elif op == "tick":
            await asyncio.sleep(0)
        assert bulkhead.in_use <= max_concurrent
        assert bulkhead.queued <= max_queue
        assert inside <= max_concurrent
    await settle(3 * len(workers) + 5)
    assert bulkhead.in_use == inside  # no slot held by nobody
    for _, done in workers:
        done.set()
    await asyncio.gather(*(task for task, _ in workers), return_exceptions=True)
    assert (bulkhead.in_use, bulkhead.queued) == (0, 0)
    assert peak <= max_concurrent


class TestBulkheadProperties:
    @settings(deadline=None)
    @given(
        ops=st.lists(
            st.tuples(
                st.sampled_from(["spawn", "spawn", "finish", "cancel", "tick"]),
                st.integers(min_value=0, max_value=50),
            ),
            max_size=80,
        ),
        max_concurrent=st.integers(min_value=1, max_value=4),
        max_queue=st.integers(min_value=0, max_value=4),
    )
    def test_never_exceeds_max_concurrent_nor_leaks_a_slot(
        self, ops: list[tuple[str, int]], max_concurrent: int, max_queue: int
    ) -> None:
        asyncio.run(fuzz(ops, max_concurrent, max_queue))


class TestBulkheadErrors:
    @pytest.mark.parametrize(
        "error", [BulkheadFullError, BulkheadTimeoutError, BulkheadReleaseError]
    )
    def test_every_error_is_a_bulkhead_error_under_kernel_error(self, error: type) -> None:
        assert issubclass(error, BulkheadError)
        assert issubclass(BulkheadError, KernelError)
