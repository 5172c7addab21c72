"""Tests for the admission controller: the in-flight bound, the critical reserve, events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.errors import ConfigurationError, KernelError
from bazaar.kernel.shedding import (
    AdmissionController,
    AdmissionReleaseError,
    AdmissionSnapshot,
    OverloadedError,
    Priority,
    RecordingListener,
    RequestShed,
    SheddingError,
    ShedReason,
    shed_reason,
)


def fill(controller: AdmissionController, n: int, priority: Priority = Priority.NORMAL) -> None:
    for _ in range(n):
        assert controller.try_admit(priority)


class TestShedReason:
    def test_normal_work_is_admitted_below_the_bound(self) -> None:
        assert shed_reason(9, Priority.NORMAL, 10, 11) is None

    def test_normal_work_is_shed_at_the_bound(self) -> None:
        assert shed_reason(10, Priority.NORMAL, 10, 11) is ShedReason.IN_FLIGHT_LIMIT

    def test_critical_work_may_use_the_reserve(self) -> None:
        assert shed_reason(10, Priority.CRITICAL, 10, 11) is None

    def test_critical_work_is_shed_once_the_reserve_is_used(self) -> None:
        assert shed_reason(11, Priority.CRITICAL, 10, 11) is ShedReason.CRITICAL_RESERVE_EXHAUSTED


class TestAdmissionController:
    def test_admits_up_to_the_bound_then_sheds(self) -> None:
        controller = AdmissionController(3)
        fill(controller, 3)
        assert not controller.try_admit(Priority.NORMAL)
        assert controller.in_flight == 3

    def test_release_makes_room_again(self) -> None:
        controller = AdmissionController(1)
        fill(controller, 1)
        controller.release()
        assert controller.try_admit()
        assert controller.in_flight == 1

    def test_the_default_reserve_is_ten_percent_rounded_up(self) -> None:
        assert AdmissionController(256).critical_limit == 256 + 26
        assert AdmissionController(100).critical_limit == 110

    def test_the_reserve_is_at_least_one_slot(self) -> None:
        assert AdmissionController(1).critical_limit == 2

    def test_critical_work_is_shed_last(self) -> None:
        listener = RecordingListener()
        controller = AdmissionController(10, listener=listener)
        fill(controller, 10)
        assert not controller.try_admit(Priority.NORMAL)
        fill(controller, 1, Priority.CRITICAL)
        assert not controller.try_admit(Priority.CRITICAL)
        assert listener.events == [
            RequestShed(ShedReason.IN_FLIGHT_LIMIT, 10, Priority.NORMAL),
            RequestShed(ShedReason.CRITICAL_RESERVE_EXHAUSTED, 11, Priority.CRITICAL),
        ]

    def test_normal_work_cannot_use_the_reserve_critical_work_left_free(self) -> None:
        controller = AdmissionController(2, critical_reserve=2)
        fill(controller, 1, Priority.CRITICAL)
        fill(controller, 1)
        assert not controller.try_admit(Priority.NORMAL)
        fill(controller, 2, Priority.CRITICAL)
        assert controller.in_flight == 4

    def test_a_zero_reserve_sheds_everything_at_the_bound(self) -> None:
        controller = AdmissionController(1, critical_reserve=0)
        fill(controller, 1)
        assert not controller.try_admit(Priority.CRITICAL)

    def test_snapshot_counts_admissions_and_sheds(self) -> None:
        controller = AdmissionController(1, critical_reserve=0)
        fill(controller, 1)
        controller.try_admit()
        controller.try_admit()
        assert controller.snapshot() == AdmissionSnapshot(
            in_flight=1, max_in_flight=1, critical_limit=1, admitted=1, shed=2
        )

    def test_refuses_a_release_with_nothing_in_flight(self) -> None:
        with pytest.raises(AdmissionReleaseError):
            AdmissionController(1).release()

    def test_admitted_block_releases_on_exit_and_on_error(self) -> None:
        controller = AdmissionController(1)
        with controller.admitted():
            assert controller.in_flight == 1
        with pytest.raises(ValueError, match="boom"), controller.admitted():
            raise ValueError("boom")
        assert controller.in_flight == 0

    def test_admitted_block_raises_overloaded_without_running(self) -> None:
        controller = AdmissionController(1, critical_reserve=0)
        fill(controller, 1)
        with pytest.raises(OverloadedError) as caught, controller.admitted(Priority.CRITICAL):
            pytest.fail("the block must not run")
        assert (caught.value.reason, caught.value.in_flight, caught.value.limit) == (
            "critical_reserve_exhausted",
            1,
            1,
        )
        assert controller.in_flight == 1

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [({"max_in_flight": 0}, "max_in_flight"), ({"critical_reserve": -1}, "critical_reserve")],
    )
    def test_refuses_invalid_bounds_naming_the_key(self, kwargs: dict[str, int], key: str) -> None:
        arguments = {"max_in_flight": 5, **kwargs}
        with pytest.raises(ConfigurationError) as caught:
            AdmissionController(**arguments)
        assert caught.value.key == key

    @given(
        max_in_flight=st.integers(min_value=1, max_value=20),
        ops=st.lists(st.sampled_from(["normal", "critical", "release"]), max_size=200),
    )
    def test_never_admits_past_the_bound_of_a_priority(
        self, max_in_flight: int, ops: list[str]
    ) -> None:
        controller = AdmissionController(max_in_flight)
        normal_admitted_over_bound = False
        for op in ops:
            if op == "release":
                if controller.in_flight:
                    controller.release()
                continue
            before = controller.in_flight
            priority = Priority.CRITICAL if op == "critical" else Priority.NORMAL
            admitted = controller.try_admit(priority)
            limit = controller.critical_limit if op == "critical" else max_in_flight
            assert admitted == (before < limit)
            normal_admitted_over_bound |= admitted and op == "normal" and before >= max_in_flight
            assert controller.in_flight <= controller.critical_limit
        assert not normal_admitted_over_bound


class TestSheddingErrors:
    @pytest.mark.parametrize("error", [OverloadedError, AdmissionReleaseError])
    def test_every_error_is_a_shedding_error_under_kernel_error(self, error: type) -> None:
        assert issubclass(error, SheddingError)
        assert issubclass(SheddingError, KernelError)


class TestResize:
    def test_lowering_the_bound_sheds_new_work_until_enough_finishes(self) -> None:
        controller = AdmissionController(4)
        for _ in range(3):
            assert controller.try_admit()
        controller.resize(2)
        assert not controller.try_admit()
        controller.release()
        controller.release()
        assert controller.try_admit()
        assert controller.snapshot().max_in_flight == 2

    def test_raising_the_bound_admits_more_at_once(self) -> None:
        controller = AdmissionController(1)
        assert controller.try_admit()
        assert not controller.try_admit()
        controller.resize(3)
        assert controller.try_admit()
        assert controller.critical_limit == 4

    def test_refuses_a_bound_below_one(self) -> None:
        controller = AdmissionController(2)
        with pytest.raises(ConfigurationError):
            controller.resize(0)
