"""Tests for the snowflake id generator, decomposition and the borrowed-millisecond rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.clock import Clock, ManualClock
from bazaar.kernel.errors import ConfigurationError, KernelError
from bazaar.kernel.ids import (
    DEFAULT_EPOCH_MS,
    MAX_SEQUENCE,
    MAX_SNOWFLAKE_ID,
    MAX_WORKER_ID,
    ClockMovedBackwardsError,
    IdError,
    SnowflakeGenerator,
    SnowflakeParts,
    TimestampOutOfRangeError,
    WorkerIdOutOfRangeError,
    decompose,
    encode_fixed,
    id_to_datetime,
)

# Whole seconds after the default epoch, so clock readings convert to exact milliseconds.
START_S = 1_710_000_000.0
START_MS = 1_710_000_000_000


class SteppingClock:
    """A test clock set to any time, backwards included (ManualClock only moves forward)."""

    def __init__(self, start_us: int) -> None:
        self.us = start_us

    def now(self) -> float:
        return self.us / 1_000_000

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.us += round(seconds * 1_000_000)

    def set_ms(self, ms: int) -> None:
        self.us = ms * 1_000


def make(worker_id: int = 7, clock: Clock | None = None) -> SnowflakeGenerator:
    return SnowflakeGenerator(worker_id, clock or ManualClock(start=START_S))


class TestSnowflakeGenerator:
    def test_stepping_clock_satisfies_the_clock_port(self) -> None:
        assert isinstance(SteppingClock(0), Clock)

    def test_first_id_packs_clock_time_worker_and_sequence_zero(self) -> None:
        generator = make(worker_id=5)
        snowflake_id = generator.next_id()
        expected = ((START_MS - DEFAULT_EPOCH_MS) << 22) | (5 << 12)
        assert snowflake_id == expected
        assert generator.decompose(snowflake_id) == SnowflakeParts(START_MS, 5, 0)

    def test_ids_are_positive_and_fit_a_signed_64_bit_column(self) -> None:
        snowflake_id = make(worker_id=MAX_WORKER_ID).next_id()
        assert 0 < snowflake_id <= MAX_SNOWFLAKE_ID == 2**63 - 1

    def test_ids_are_strictly_increasing_within_one_millisecond(self) -> None:
        generator = make()
        ids = [generator.next_id() for _ in range(100)]
        assert ids == sorted(set(ids))
        parts = [decompose(i) for i in ids]
        assert {p.timestamp_ms for p in parts} == {START_MS}
        assert [p.sequence for p in parts] == list(range(100))

    def test_sequence_restarts_when_the_clock_reaches_a_new_millisecond(self) -> None:
        clock = ManualClock(start=START_S)
        generator = make(clock=clock)
        first = [generator.next_id() for _ in range(3)]
        clock.advance(0.001)
        later = generator.next_id()
        assert later > first[-1]
        assert decompose(later) == SnowflakeParts(START_MS + 1, 7, 0)

    def test_sub_millisecond_float_noise_does_not_lose_a_millisecond(self) -> None:
        clock = ManualClock(start=1_704_067_200.0)
        generator = make(clock=clock)
        for step in range(1, 6):
            clock.advance(0.001)
            parts = decompose(generator.next_id())
            assert parts.timestamp_ms == 1_704_067_200_000 + step

    def test_sequence_overflow_borrows_the_next_millisecond(self) -> None:
        generator = make()
        ids = [generator.next_id() for _ in range(MAX_SEQUENCE + 2)]
        assert ids == sorted(set(ids))
        assert decompose(ids[MAX_SEQUENCE]) == SnowflakeParts(START_MS, 7, MAX_SEQUENCE)
        assert decompose(ids[-1]) == SnowflakeParts(START_MS + 1, 7, 0)

    def test_borrowed_millisecond_keeps_counting_when_the_clock_catches_up(self) -> None:
        clock = ManualClock(start=START_S)
        generator = make(clock=clock)
        ids = [generator.next_id() for _ in range(MAX_SEQUENCE + 3)]  # borrows START_MS + 1
        clock.advance(0.001)  # the clock now reads the borrowed millisecond
        next_id = generator.next_id()
        assert next_id > ids[-1]
        assert decompose(next_id) == SnowflakeParts(START_MS + 1, 7, 2)
        clock.advance(0.001)  # past the borrowed millisecond: back on the wall clock
        assert decompose(generator.next_id()) == SnowflakeParts(START_MS + 2, 7, 0)

    def test_borrowing_far_ahead_is_not_mistaken_for_a_backwards_clock(self) -> None:
        generator = make()
        per_ms = MAX_SEQUENCE + 1
        ids = [generator.next_id() for _ in range(per_ms * 8)]  # 7 ms ahead of a still clock
        assert decompose(ids[-1]).timestamp_ms == START_MS + 7
        assert ids == sorted(set(ids))

    def test_small_backwards_clock_jump_keeps_ids_increasing(self) -> None:
        clock = SteppingClock(START_MS * 1_000)
        generator = make(clock=clock)
        before = generator.next_id()
        clock.set_ms(START_MS - 5)  # exactly the default tolerance
        during = [generator.next_id() for _ in range(3)]
        assert [before, *during] == sorted({before, *during})
        # The generator stays on its last millisecond rather than following the clock back.
        assert {decompose(i).timestamp_ms for i in during} == {START_MS}

    def test_small_backwards_jumps_are_measured_from_the_latest_reading(self) -> None:
        clock = SteppingClock(START_MS * 1_000)
        generator = make(clock=clock)
        generator.next_id()
        clock.set_ms(START_MS - 3)
        generator.next_id()
        clock.set_ms(START_MS - 6)  # each step is 3 ms, but 6 ms behind the latest reading
        with pytest.raises(ClockMovedBackwardsError):
            generator.next_id()

    def test_large_backwards_clock_jump_raises(self) -> None:
        clock = SteppingClock(START_MS * 1_000)
        generator = make(clock=clock)
        generator.next_id()
        clock.set_ms(START_MS - 6)
        with pytest.raises(ClockMovedBackwardsError, match="by 6 ms") as excinfo:
            generator.next_id()
        assert (excinfo.value.last_ms, excinfo.value.now_ms) == (START_MS, START_MS - 6)

    def test_generator_recovers_once_the_clock_returns_after_a_large_jump(self) -> None:
        clock = SteppingClock(START_MS * 1_000)
        generator = make(clock=clock)
        before = generator.next_id()
        clock.set_ms(START_MS - 100)
        with pytest.raises(ClockMovedBackwardsError):
            generator.next_id()
        clock.set_ms(START_MS)
        assert generator.next_id() > before

    def test_backwards_tolerance_is_configurable(self) -> None:
        clock = SteppingClock(START_MS * 1_000)
        generator = SnowflakeGenerator(1, clock, max_backwards_ms=0)
        generator.next_id()
        clock.set_ms(START_MS - 1)
        with pytest.raises(ClockMovedBackwardsError):
            generator.next_id()

    @pytest.mark.parametrize("worker_id", [-1, MAX_WORKER_ID + 1, 10_000])
    def test_worker_id_out_of_range_is_refused(self, worker_id: int) -> None:
        with pytest.raises(WorkerIdOutOfRangeError) as excinfo:
            make(worker_id=worker_id)
        assert (excinfo.value.worker_id, excinfo.value.max) == (worker_id, 1023)

    @pytest.mark.parametrize("worker_id", [0, MAX_WORKER_ID])
    def test_worker_ids_at_the_edges_are_accepted(self, worker_id: int) -> None:
        generator = make(worker_id=worker_id)
        assert generator.worker_id == worker_id
        assert decompose(generator.next_id()).worker_id == worker_id

    @pytest.mark.parametrize(
        ("key", "kwargs"),
        [("epoch_ms", {"epoch_ms": -1}), ("max_backwards_ms", {"max_backwards_ms": -1})],
    )
    def test_negative_configuration_is_refused(self, key: str, kwargs: dict[str, int]) -> None:
        with pytest.raises(ConfigurationError) as excinfo:
            SnowflakeGenerator(1, ManualClock(start=START_S), **kwargs)
        assert excinfo.value.key == key

    def test_clock_before_the_epoch_is_refused(self) -> None:
        generator = make(clock=ManualClock(start=1_700_000_000.0))  # November 2023
        with pytest.raises(TimestampOutOfRangeError) as excinfo:
            generator.next_id()
        assert excinfo.value.epoch_ms == DEFAULT_EPOCH_MS

    def test_clock_past_the_41_bit_range_is_refused(self) -> None:
        last_ms = DEFAULT_EPOCH_MS + 2**41 - 1
        clock = SteppingClock(last_ms * 1_000)
        generator = make(clock=clock)
        assert decompose(generator.next_id()).timestamp_ms == last_ms
        clock.set_ms(last_ms + 1)
        with pytest.raises(TimestampOutOfRangeError):
            generator.next_id()

    def test_custom_epoch_is_used_to_pack_and_unpack(self) -> None:
        generator = SnowflakeGenerator(3, ManualClock(start=START_S), epoch_ms=0)
        snowflake_id = generator.next_id()
        assert generator.epoch_ms == 0
        assert snowflake_id >> 22 == START_MS
        assert generator.decompose(snowflake_id).timestamp_ms == START_MS
        assert decompose(snowflake_id, epoch_ms=0).timestamp_ms == START_MS

    def test_distinct_workers_never_collide_on_the_same_clock(self) -> None:
        clock = ManualClock(start=START_S)
        a, b = SnowflakeGenerator(1, clock), SnowflakeGenerator(2, clock)
        ids_a = {a.next_id() for _ in range(5_000)}
        ids_b = {b.next_id() for _ in range(5_000)}
        assert not ids_a & ids_b

    def test_ids_are_unique_across_threads(self) -> None:
        generator = make()
        results: list[list[int]] = [[] for _ in range(4)]

        def work(out: list[int]) -> None:
            out.extend(generator.next_id() for _ in range(5_000))

        threads = [threading.Thread(target=work, args=(out,)) for out in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        all_ids = [i for out in results for i in out]
        assert len(set(all_ids)) == len(all_ids) == 20_000
        for out in results:  # each thread saw increasing ids
            assert out == sorted(out)

    def test_decompose_roundtrips(self) -> None:
        snowflake_id = ((123_456 << 22) | (1023 << 12)) | 4095
        assert decompose(snowflake_id) == SnowflakeParts(DEFAULT_EPOCH_MS + 123_456, 1023, 4095)

    @pytest.mark.parametrize("bad", [-1, 2**63])
    def test_decompose_refuses_ids_outside_63_bits(self, bad: int) -> None:
        with pytest.raises(ValueError, match="snowflake id"):
            decompose(bad)

    def test_snowflake_parts_are_frozen(self) -> None:
        parts = SnowflakeParts(1, 2, 3)
        with pytest.raises(AttributeError):
            parts.sequence = 4  # type: ignore[misc]

    def test_id_to_datetime_is_exact_to_the_millisecond(self) -> None:
        clock = ManualClock(start=START_S)
        clock.advance(0.123)
        snowflake_id = make(clock=clock).next_id()
        assert id_to_datetime(snowflake_id) == datetime(2024, 3, 9, 16, 0, 0, 123_000, tzinfo=UTC)

    def test_id_errors_sit_in_the_kernel_error_tree(self) -> None:
        for error in (ClockMovedBackwardsError, WorkerIdOutOfRangeError, TimestampOutOfRangeError):
            assert issubclass(error, IdError)
        assert issubclass(IdError, KernelError)

    def test_fixed_width_base62_of_ids_sorts_like_the_ids(self) -> None:
        clock = ManualClock(start=START_S)
        generator = make(clock=clock)
        ids: list[int] = []
        for _ in range(50):
            ids.extend(generator.next_id() for _ in range(3))
            clock.advance(0.0007)
        texts = [encode_fixed(i) for i in ids]
        assert texts == sorted(texts)

    @given(
        worker_id=st.integers(min_value=0, max_value=MAX_WORKER_ID),
        timestamp_offset_ms=st.integers(min_value=0, max_value=2**41 - 1),
        sequence=st.integers(min_value=0, max_value=MAX_SEQUENCE),
    )
    def test_decompose_inverts_the_bit_layout(
        self, worker_id: int, timestamp_offset_ms: int, sequence: int
    ) -> None:
        snowflake_id = (timestamp_offset_ms << 22) | (worker_id << 12) | sequence
        assert decompose(snowflake_id) == SnowflakeParts(
            DEFAULT_EPOCH_MS + timestamp_offset_ms, worker_id, sequence
        )

    @settings(deadline=None)  # some examples overflow the sequence: thousands of ids
    @given(
        steps=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=50_000),  # forward advance, microseconds
                st.integers(min_value=0, max_value=MAX_SEQUENCE + 100),  # ids after it
            ),
            max_size=20,
        )
    )
    def test_any_sequence_of_clock_advances_yields_increasing_unique_ids(
        self, steps: list[tuple[int, int]]
    ) -> None:
        clock = ManualClock(start=START_S)
        generator = make(clock=clock)
        ids: list[int] = []
        for advance_us, count in steps:
            clock.advance(advance_us / 1_000_000)
            ids.extend(generator.next_id() for _ in range(count))
        assert all(a < b for a, b in pairwise(ids))

    @settings(deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.integers(min_value=-8_000, max_value=20_000),  # clock step, microseconds
                st.integers(min_value=0, max_value=300),
            ),
            max_size=30,
        )
    )
    def test_tolerated_backwards_steps_still_yield_increasing_unique_ids(
        self, steps: list[tuple[int, int]]
    ) -> None:
        start_us = START_MS * 1_000
        clock = SteppingClock(start_us)
        generator = make(clock=clock)
        peak_us = start_us
        ids: list[int] = []
        for step_us, count in steps:
            # Keep every reading within the 5 ms tolerance of the latest reading.
            clock.us = max(clock.us + step_us, peak_us - 5_000)
            peak_us = max(peak_us, clock.us)
            ids.extend(generator.next_id() for _ in range(count))
        assert all(a < b for a, b in pairwise(ids))
