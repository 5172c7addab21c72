"""The saga's pure decision core: decisions per state, retries, compensation, parking."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry import RetryPolicy
from bazaar.kernel.saga import (
    SagaDefinition,
    SagaRecord,
    SagaState,
    StepDefinition,
    StepStatus,
    UnknownStepError,
    machine,
)
from bazaar.kernel.saga.machine import (
    BeginCompensation,
    CompensateStep,
    Finished,
    GiveUpStep,
    RunStep,
    WaitUntil,
)
from bazaar.kernel.saga.model import MAY_HAVE_EFFECT

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def definition(
    *steps: StepDefinition | str,
    name: str = "checkout",
) -> SagaDefinition:
    return SagaDefinition(
        name, tuple(StepDefinition(s) if isinstance(s, str) else s for s in steps)
    )


def fresh(saga_definition: SagaDefinition, data: dict[str, object] | None = None) -> SagaRecord:
    return machine.new_saga(saga_definition, saga_id=7, tenant_id=3, data=data or {}, now=T0)


def with_statuses(saga: SagaRecord, *statuses: StepStatus, state: SagaState) -> SagaRecord:
    steps = tuple(
        replace(step, status=status, attempts=0 if status is StepStatus.PENDING else 1)
        for step, status in zip(saga.steps, statuses, strict=True)
    )
    return replace(saga, steps=steps, state=state)


def succeed(saga: SagaRecord, index: int, now: datetime = T0) -> SagaRecord:
    return machine.step_succeeded(machine.step_started(saga, index, now), index, now)


def fail(
    saga: SagaRecord,
    saga_definition: SagaDefinition,
    index: int,
    *,
    retryable: bool,
    reason: str | None = None,
    delay: float = 1.0,
    now: datetime = T0,
) -> SagaRecord:
    started = machine.step_started(saga, index, now)
    return machine.step_failed(
        started,
        saga_definition,
        index,
        now,
        error="boom",
        reason=reason,
        retryable=retryable,
        retry_delay_s=delay,
    )


class TestDefinitions:
    def test_a_saga_needs_steps(self) -> None:
        with pytest.raises(ConfigurationError) as raised:
            SagaDefinition("empty", ())
        assert raised.value.key == "steps"

    def test_step_names_are_unique(self) -> None:
        with pytest.raises(ConfigurationError, match="repeats"):
            definition("a", "a")

    def test_a_step_needs_a_name_and_a_positive_timeout(self) -> None:
        with pytest.raises(ConfigurationError):
            StepDefinition("")
        with pytest.raises(ConfigurationError) as raised:
            StepDefinition("a", timeout_s=0)
        assert raised.value.key == "timeout_s"

    def test_index_finds_a_step_and_refuses_an_unknown_one(self) -> None:
        saga_definition = definition("reserve", "pay")
        assert saga_definition.index("pay") == 1
        with pytest.raises(UnknownStepError):
            saga_definition.index("ship")

    def test_a_record_finds_its_step_by_name(self) -> None:
        saga = fresh(definition("reserve", "pay"))
        assert saga.step("pay").status is StepStatus.PENDING
        with pytest.raises(UnknownStepError):
            saga.step("ship")

    def test_the_record_data_is_a_read_only_copy(self) -> None:
        data: dict[str, object] = {"order": 1}
        saga = fresh(definition("a"), data)
        data["order"] = 2
        assert saga.data == {"order": 1}
        with pytest.raises(TypeError):
            saga.data["order"] = 3  # type: ignore[index]


class TestNewSaga:
    def test_starts_running_with_every_step_pending_at_version_zero(self) -> None:
        saga = fresh(definition("reserve", "pay"), {"order_id": 1})
        assert saga.state is SagaState.RUNNING
        assert [s.status for s in saga.steps] == [StepStatus.PENDING, StepStatus.PENDING]
        assert saga.version == 0
        assert saga.data == {"order_id": 1}
        assert saga.created_at == saga.updated_at == T0


class TestDecide:
    def test_a_fresh_saga_runs_its_first_step(self) -> None:
        saga_definition = definition("reserve", "pay")
        assert machine.decide(fresh(saga_definition), saga_definition, T0) == RunStep(0, 1)

    def test_runs_the_first_step_not_yet_succeeded(self) -> None:
        saga_definition = definition("reserve", "pay", "ship")
        saga = succeed(fresh(saga_definition), 0)
        assert machine.decide(saga, saga_definition, T0) == RunStep(1, 1)

    def test_reruns_a_step_left_running_as_its_next_attempt(self) -> None:
        saga_definition = definition(
            StepDefinition("reserve"), StepDefinition("pay", retry=RetryPolicy(max_attempts=2))
        )
        saga = machine.step_started(succeed(fresh(saga_definition), 0), 1, T0)
        assert machine.decide(saga, saga_definition, T0) == RunStep(1, 2)

    def test_gives_up_a_step_interrupted_as_often_as_its_policy_allows(self) -> None:
        saga_definition = definition(
            StepDefinition("reserve"), StepDefinition("pay", retry=RetryPolicy(max_attempts=2))
        )
        saga = succeed(fresh(saga_definition), 0)
        for _ in range(2):  # started twice, finished never: each attempt was cut short
            saga = machine.step_started(saga, 1, T0)
        assert machine.decide(saga, saga_definition, T0) == GiveUpStep(1)

    @pytest.mark.parametrize(
        "state", [SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.NEEDS_ATTENTION]
    )
    def test_a_terminal_saga_is_finished(self, state: SagaState) -> None:
        saga_definition = definition("a")
        saga = replace(fresh(saga_definition), state=state)
        assert machine.decide(saga, saga_definition, T0) == Finished(state)

    def test_a_requested_cancel_begins_compensation(self) -> None:
        saga_definition = definition("a", "b")
        saga = machine.request_cancel(succeed(fresh(saga_definition), 0), "customer", T0)
        assert machine.decide(saga, saga_definition, T0) == BeginCompensation("customer")

    def test_a_cancel_does_not_wait_for_a_pending_retry(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=3)))
        waiting = fail(fresh(saga_definition), saga_definition, 0, retryable=True, delay=60)
        saga = machine.request_cancel(waiting, "customer", T0)
        assert machine.decide(saga, saga_definition, T0) == BeginCompensation("customer")

    def test_waits_until_the_retry_is_due_then_runs_the_next_attempt(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=3)))
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=True, delay=2.5)
        due = T0 + timedelta(seconds=2.5)
        assert machine.decide(saga, saga_definition, T0) == WaitUntil(due)
        assert machine.decide(saga, saga_definition, due - timedelta(microseconds=1)) == (
            WaitUntil(due)
        )
        assert machine.decide(saga, saga_definition, due) == RunStep(0, 2)

    def test_compensating_undoes_the_last_step_that_may_have_had_effect(self) -> None:
        saga_definition = definition("a", "b", "c")
        saga = with_statuses(
            fresh(saga_definition),
            StepStatus.SUCCEEDED,
            StepStatus.FAILED,
            StepStatus.PENDING,
            state=SagaState.COMPENSATING,
        )
        assert machine.decide(saga, saga_definition, T0) == CompensateStep(1, 1)

    def test_a_compensation_is_retried_as_its_next_attempt(self) -> None:
        saga_definition = definition("a")
        saga = with_statuses(
            fresh(saga_definition), StepStatus.SUCCEEDED, state=SagaState.COMPENSATING
        )
        saga = machine.compensation_failed(
            machine.compensation_started(saga, 0, T0),
            saga_definition,
            0,
            T0,
            error="psp down",
            retryable=True,
            retry_delay_s=0.0,
        )
        assert machine.decide(saga, saga_definition, T0) == CompensateStep(0, 2)

    def test_compensating_with_nothing_to_undo_is_finished_as_compensated(self) -> None:
        saga_definition = definition("a", "b")
        saga = replace(fresh(saga_definition), state=SagaState.COMPENSATING)
        assert machine.decide(saga, saga_definition, T0) == Finished(SagaState.COMPENSATED)


class TestStepTransitions:
    def test_step_started_marks_it_running_and_counts_the_attempt(self) -> None:
        saga_definition = definition("a")
        later = T0 + timedelta(seconds=5)
        first = machine.step_started(fresh(saga_definition), 0, T0)
        second = machine.step_started(first, 0, later)
        assert second.steps[0].status is StepStatus.RUNNING
        assert second.steps[0].attempts == 2
        assert second.steps[0].started_at == T0  # the first attempt's start is the step's
        assert second.updated_at == later

    def test_step_succeeded_merges_what_it_produced(self) -> None:
        saga_definition = definition("reserve", "pay")
        saga = fresh(saga_definition, {"order_id": 1})
        started = machine.step_started(saga, 0, T0)
        done = machine.step_succeeded(started, 0, T0, {"reservation_id": "r-1"})
        assert done.data == {"order_id": 1, "reservation_id": "r-1"}
        assert done.steps[0].status is StepStatus.SUCCEEDED
        assert done.steps[0].finished_at == T0
        assert done.state is SagaState.RUNNING

    def test_the_last_step_succeeding_completes_the_saga(self) -> None:
        saga_definition = definition("reserve", "pay")
        saga = succeed(succeed(fresh(saga_definition), 0), 1)
        assert saga.state is SagaState.COMPLETED
        assert machine.decide(saga, saga_definition, T0) == Finished(SagaState.COMPLETED)

    def test_a_success_clears_the_error_of_an_earlier_attempt(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=2)))
        waiting = fail(fresh(saga_definition), saga_definition, 0, retryable=True)
        assert waiting.steps[0].error == "boom"
        assert succeed(waiting, 0).steps[0].error is None


class TestStepFailed:
    def test_a_retryable_failure_within_the_policy_waits_for_the_next_attempt(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=3)))
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=True, delay=1.5)
        assert saga.state is SagaState.RUNNING
        assert saga.steps[0].status is StepStatus.RUNNING
        assert saga.steps[0].error == "boom"
        assert saga.next_attempt_at == T0 + timedelta(seconds=1.5)
        assert saga.failure_reason is None

    def test_a_retryable_failure_of_the_last_allowed_attempt_gives_up(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=2)))
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=True)
        saga = fail(saga, saga_definition, 0, retryable=True)
        assert saga.steps[0].attempts == 2
        assert saga.steps[0].status is StepStatus.FAILED
        assert saga.state is SagaState.COMPENSATING
        assert saga.next_attempt_at is None

    def test_a_permanent_failure_gives_up_at_once(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=5)))
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=False)
        assert saga.steps[0].attempts == 1
        assert saga.steps[0].status is StepStatus.FAILED
        assert saga.steps[0].finished_at == T0
        assert saga.state is SagaState.COMPENSATING

    def test_the_failure_reason_defaults_to_the_steps(self) -> None:
        saga_definition = definition(StepDefinition("pay", failure_reason="payment_failed"))
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=False)
        assert saga.failure_reason == "payment_failed"

    def test_the_failure_reason_given_by_the_error_wins(self) -> None:
        saga_definition = definition(StepDefinition("pay", failure_reason="payment_failed"))
        saga = fail(
            fresh(saga_definition), saga_definition, 0, retryable=False, reason="card_declined"
        )
        assert saga.failure_reason == "card_declined"

    def test_the_generic_default_failure_reason(self) -> None:
        saga_definition = definition("a")
        saga = fail(fresh(saga_definition), saga_definition, 0, retryable=False)
        assert saga.failure_reason == "step_failed"

    def test_a_long_error_is_cut_for_the_timeline(self) -> None:
        saga_definition = definition("a")
        started = machine.step_started(fresh(saga_definition), 0, T0)
        saga = machine.step_failed(
            started,
            saga_definition,
            0,
            T0,
            error="x" * 10_000,
            reason=None,
            retryable=False,
            retry_delay_s=0,
        )
        error = saga.steps[0].error
        assert error is not None
        assert len(error) == 500
        assert error.endswith("…")

    def test_a_requested_cancel_stops_the_retries(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=5)))
        started = machine.step_started(fresh(saga_definition), 0, T0)
        cancelled = machine.request_cancel(started, "customer", T0)
        saga = machine.step_failed(
            cancelled,
            saga_definition,
            0,
            T0,
            error="boom",
            reason=None,
            retryable=True,
            retry_delay_s=1,
        )
        assert saga.state is SagaState.COMPENSATING
        assert saga.steps[0].status is StepStatus.FAILED


class TestCompensation:
    def test_compensates_in_reverse_order_every_step_that_may_have_had_effect(self) -> None:
        saga_definition = definition("a", "b", "c", "d", "e", "f")
        saga = with_statuses(
            fresh(saga_definition),
            StepStatus.SUCCEEDED,
            StepStatus.COMPENSATING,
            StepStatus.SUCCEEDED,
            StepStatus.RUNNING,
            StepStatus.FAILED,
            StepStatus.PENDING,
            state=SagaState.COMPENSATING,
        )
        order = []
        while not isinstance(decision := machine.decide(saga, saga_definition, T0), Finished):
            assert isinstance(decision, CompensateStep)
            order.append(decision.index)
            started = machine.compensation_started(saga, decision.index, T0)
            saga = machine.step_compensated(started, saga_definition, decision.index, T0)
        assert order == [4, 3, 2, 1, 0]
        assert saga.state is SagaState.COMPENSATED
        assert [s.status for s in saga.steps] == [StepStatus.COMPENSATED] * 5 + [StepStatus.SKIPPED]

    def test_skips_steps_that_are_not_compensable(self) -> None:
        saga_definition = definition("reserve", StepDefinition("notify", compensable=False), "pay")
        saga = with_statuses(
            fresh(saga_definition),
            StepStatus.SUCCEEDED,
            StepStatus.SUCCEEDED,
            StepStatus.FAILED,
            state=SagaState.COMPENSATING,
        )
        assert machine.decide(saga, saga_definition, T0) == CompensateStep(2, 1)
        saga = machine.step_compensated(
            machine.compensation_started(saga, 2, T0), saga_definition, 2, T0
        )
        assert machine.decide(saga, saga_definition, T0) == CompensateStep(0, 1)
        saga = machine.step_compensated(
            machine.compensation_started(saga, 0, T0), saga_definition, 0, T0
        )
        assert saga.state is SagaState.COMPENSATED
        assert saga.steps[1].status is StepStatus.SUCCEEDED

    def test_the_last_compensation_ends_the_saga_and_skips_what_never_ran(self) -> None:
        saga_definition = definition("a", "b", "c")
        saga = fail(succeed(fresh(saga_definition), 0), saga_definition, 1, retryable=False)
        for index in (1, 0):
            saga = machine.step_compensated(
                machine.compensation_started(saga, index, T0), saga_definition, index, T0
            )
        assert saga.state is SagaState.COMPENSATED
        assert [s.status for s in saga.steps] == [
            StepStatus.COMPENSATED,
            StepStatus.COMPENSATED,
            StepStatus.SKIPPED,
        ]

    def test_compensation_started_counts_its_attempts(self) -> None:
        saga_definition = definition("a")
        saga = with_statuses(
            fresh(saga_definition), StepStatus.SUCCEEDED, state=SagaState.COMPENSATING
        )
        started = machine.compensation_started(saga, 0, T0)
        assert started.steps[0].status is StepStatus.COMPENSATING
        assert started.steps[0].compensation_attempts == 1
        assert started.steps[0].attempts == 1

    def test_a_retryable_compensation_failure_is_retried_after_its_delay(self) -> None:
        saga_definition = definition(
            StepDefinition("a", compensation_retry=RetryPolicy(max_attempts=2))
        )
        saga = with_statuses(
            fresh(saga_definition), StepStatus.SUCCEEDED, state=SagaState.COMPENSATING
        )
        saga = machine.compensation_failed(
            machine.compensation_started(saga, 0, T0),
            saga_definition,
            0,
            T0,
            error="psp down",
            retryable=True,
            retry_delay_s=3,
        )
        assert saga.state is SagaState.COMPENSATING
        assert saga.steps[0].status is StepStatus.COMPENSATING
        assert saga.steps[0].error == "psp down"
        assert machine.decide(saga, saga_definition, T0) == WaitUntil(T0 + timedelta(seconds=3))

    def test_a_compensation_out_of_attempts_parks_the_saga_naming_the_step(self) -> None:
        saga_definition = definition(
            "reserve",
            StepDefinition("pay", compensation_retry=RetryPolicy(max_attempts=2)),
            "ship",
        )
        saga = fail(succeed(fresh(saga_definition), 0), saga_definition, 1, retryable=False)
        for _ in range(2):
            saga = machine.compensation_failed(
                machine.compensation_started(saga, 1, T0),
                saga_definition,
                1,
                T0,
                error="psp down",
                retryable=True,
                retry_delay_s=0,
            )
        assert saga.state is SagaState.NEEDS_ATTENTION
        assert saga.attention_reason == "compensation of step 'pay' failed: psp down"
        assert saga.steps[1].status is StepStatus.COMPENSATING
        assert saga.steps[1].compensation_attempts == 2
        assert saga.steps[2].status is StepStatus.SKIPPED
        assert saga.next_attempt_at is None
        assert machine.decide(saga, saga_definition, T0) == Finished(SagaState.NEEDS_ATTENTION)

    def test_a_permanent_compensation_failure_parks_the_saga_at_once(self) -> None:
        saga_definition = definition("reserve")
        saga = with_statuses(
            fresh(saga_definition), StepStatus.SUCCEEDED, state=SagaState.COMPENSATING
        )
        saga = machine.compensation_failed(
            machine.compensation_started(saga, 0, T0),
            saga_definition,
            0,
            T0,
            error="already shipped",
            retryable=False,
            retry_delay_s=0,
        )
        assert saga.state is SagaState.NEEDS_ATTENTION
        assert saga.attention_reason is not None
        assert "'reserve'" in saga.attention_reason
        assert "already shipped" in saga.attention_reason

    def test_park_keeps_a_long_reason_short(self) -> None:
        saga = machine.park(fresh(definition("a")), "y" * 2_000, T0)
        assert saga.attention_reason is not None
        assert len(saga.attention_reason) == 500


class TestCancel:
    def test_request_cancel_records_the_reason(self) -> None:
        later = T0 + timedelta(seconds=1)
        saga = machine.request_cancel(fresh(definition("a")), "customer", later)
        assert saga.cancel_reason == "customer"
        assert saga.updated_at == later
        assert saga.state is SagaState.RUNNING

    def test_request_cancel_is_idempotent_and_keeps_the_first_reason(self) -> None:
        saga = machine.request_cancel(fresh(definition("a")), "customer", T0)
        assert machine.request_cancel(saga, "fraud", T0) is saga

    def test_request_cancel_does_nothing_once_the_saga_stopped_running(self) -> None:
        saga_definition = definition("a")
        completed = succeed(fresh(saga_definition), 0)
        assert machine.request_cancel(completed, "customer", T0) is completed
        compensating = replace(fresh(saga_definition), state=SagaState.COMPENSATING)
        assert machine.request_cancel(compensating, "customer", T0) is compensating

    def test_begin_compensation_uses_the_reason_and_drops_a_pending_retry(self) -> None:
        saga_definition = definition(StepDefinition("a", retry=RetryPolicy(max_attempts=3)))
        waiting = fail(fresh(saga_definition), saga_definition, 0, retryable=True, delay=60)
        saga = machine.begin_compensation(waiting, "customer", T0)
        assert saga.state is SagaState.COMPENSATING
        assert saga.failure_reason == "customer"
        assert saga.next_attempt_at is None
        # The attempt that failed may still have reached the other side.
        assert machine.decide(saga, saga_definition, T0) == CompensateStep(0, 1)

    def test_begin_compensation_leaves_a_saga_that_is_not_running_alone(self) -> None:
        saga = replace(fresh(definition("a")), state=SagaState.COMPLETED)
        assert machine.begin_compensation(saga, "customer", T0) is saga

    def test_finish_compensation_marks_pending_steps_skipped(self) -> None:
        saga_definition = definition("a", "b", "c")
        saga = with_statuses(
            fresh(saga_definition),
            StepStatus.COMPENSATED,
            StepStatus.PENDING,
            StepStatus.PENDING,
            state=SagaState.COMPENSATING,
        )
        later = T0 + timedelta(seconds=1)
        done = machine.finish_compensation(saga, later)
        assert done.state is SagaState.COMPENSATED
        assert done.updated_at == later
        assert [s.status for s in done.steps] == [
            StepStatus.COMPENSATED,
            StepStatus.SKIPPED,
            StepStatus.SKIPPED,
        ]

    def test_a_cancel_before_any_step_ends_compensated_with_nothing_undone(self) -> None:
        saga_definition = definition("a", "b")
        saga = machine.request_cancel(fresh(saga_definition), "customer", T0)
        decision = machine.decide(saga, saga_definition, T0)
        assert isinstance(decision, BeginCompensation)
        saga = machine.begin_compensation(saga, decision.reason, T0)
        assert machine.decide(saga, saga_definition, T0) == Finished(SagaState.COMPENSATED)
        saga = machine.finish_compensation(saga, T0)
        assert [s.status for s in saga.steps] == [StepStatus.SKIPPED, StepStatus.SKIPPED]
        assert saga.failure_reason == "customer"


# --- property: random outcomes never leave a saga stuck or half undone ---

OUTCOMES = st.sampled_from(["succeed", "retryable", "permanent"])
step_definitions = st.builds(
    lambda compensable, attempts, compensation_attempts: (
        compensable,
        attempts,
        compensation_attempts,
    ),
    st.booleans(),
    st.integers(1, 3),
    st.integers(1, 3),
)


@dataclass
class Trace:
    ran: list[int] = field(default_factory=list)
    compensated: list[int] = field(default_factory=list)  # one entry per compensation attempt
    decisions: int = 0


def drive(
    saga_definition: SagaDefinition, data: st.DataObject, cancel_at: int | None, bound: int
) -> tuple[SagaRecord, Trace]:
    """Carry ``decide``'s decisions out as the runner does, with drawn outcomes and fake time."""
    now = T0
    saga = machine.new_saga(saga_definition, 1, 1, {}, now)
    trace = Trace()
    while trace.decisions < bound:
        if trace.decisions == cancel_at:
            saga = machine.request_cancel(saga, "cancelled", now)
        trace.decisions += 1
        decision = machine.decide(saga, saga_definition, now)
        if isinstance(decision, Finished):
            if saga.state.terminal:
                return saga, trace
            assert decision.state is SagaState.COMPENSATED
            saga = machine.finish_compensation(saga, now)
        elif isinstance(decision, WaitUntil):
            assert decision.at > now
            now = decision.at
        elif isinstance(decision, BeginCompensation):
            saga = machine.begin_compensation(saga, decision.reason, now)
        elif isinstance(decision, RunStep):
            trace.ran.append(decision.index)
            assert decision.attempt == saga.steps[decision.index].attempts + 1
            saga = machine.step_started(saga, decision.index, now)
            outcome = data.draw(OUTCOMES)
            if outcome == "succeed":
                saga = machine.step_succeeded(saga, decision.index, now, {"n": decision.index})
            else:
                saga = machine.step_failed(
                    saga,
                    saga_definition,
                    decision.index,
                    now,
                    error=outcome,
                    reason=None,
                    retryable=outcome == "retryable",
                    retry_delay_s=data.draw(st.sampled_from([0.0, 0.5, 2.0])),
                )
        else:
            trace.compensated.append(decision.index)
            assert decision.attempt == saga.steps[decision.index].compensation_attempts + 1
            saga = machine.compensation_started(saga, decision.index, now)
            outcome = data.draw(OUTCOMES)
            if outcome == "succeed":
                saga = machine.step_compensated(saga, saga_definition, decision.index, now)
            else:
                saga = machine.compensation_failed(
                    saga,
                    saga_definition,
                    decision.index,
                    now,
                    error=outcome,
                    retryable=outcome == "retryable",
                    retry_delay_s=data.draw(st.sampled_from([0.0, 1.0])),
                )
        # Time only moves forward; a record's own timestamps never run ahead of it.
        assert saga.updated_at <= now
    raise AssertionError(f"no terminal state after {bound} decisions: {saga}")


class TestSagaProperties:
    @settings(max_examples=200, deadline=None)
    @given(
        shapes=st.lists(step_definitions, min_size=1, max_size=5),
        cancel_at=st.none() | st.integers(0, 12),
        data=st.data(),
    )
    def test_random_outcomes_always_end_in_a_consistent_terminal_state(
        self,
        shapes: list[tuple[bool, int, int]],
        cancel_at: int | None,
        data: st.DataObject,
    ) -> None:
        saga_definition = SagaDefinition(
            "prop",
            tuple(
                StepDefinition(
                    f"s{index}",
                    compensable=compensable,
                    retry=RetryPolicy(max_attempts=attempts, base_delay_s=0, max_delay_s=0),
                    compensation_retry=RetryPolicy(
                        max_attempts=compensation_attempts, base_delay_s=0, max_delay_s=0
                    ),
                )
                for index, (compensable, attempts, compensation_attempts) in enumerate(shapes)
            ),
        )
        # Each attempt is at most: decide+wait, and finishing takes a few more decisions.
        bound = 4 + sum(2 * (a + c) for _, a, c in shapes)
        saga, trace = drive(saga_definition, data, cancel_at, bound)
        steps = saga.steps
        event(f"{saga.state.value}{' after a cancel' if saga.cancel_reason else ''}")

        for record, step in zip(steps, saga_definition.steps, strict=True):
            assert record.attempts <= step.retry.max_attempts
            assert record.compensation_attempts <= step.compensation_retry.max_attempts
            if not step.compensable:
                assert record.compensation_attempts == 0
        # Forward steps run in order, never one past a step that has not succeeded.
        assert trace.ran == sorted(trace.ran)
        # Compensations run in reverse order of the steps (a step's retries stay together).
        assert trace.compensated == sorted(trace.compensated, reverse=True)

        if saga.state is SagaState.COMPLETED:
            assert all(record.status is StepStatus.SUCCEEDED for record in steps)
            assert trace.compensated == []
            assert saga.failure_reason is None
            assert saga.data == {"n": len(steps) - 1}
        elif saga.state is SagaState.COMPENSATED:
            assert saga.failure_reason is not None
            for record, step in zip(steps, saga_definition.steps, strict=True):
                if step.compensable:
                    assert record.status not in MAY_HAVE_EFFECT
                    if record.attempts > 0:
                        assert record.status is StepStatus.COMPENSATED
                assert record.status is not StepStatus.PENDING
        else:
            assert saga.state is SagaState.NEEDS_ATTENTION
            stuck = [r for r in steps if r.status is StepStatus.COMPENSATING]
            assert len(stuck) == 1
            assert saga.attention_reason is not None
            assert f"step {stuck[0].name!r}" in saga.attention_reason
            # Everything after the stuck step was undone before it; nothing before it was.
            position = saga_definition.index(stuck[0].name)
            for record, step in zip(
                steps[position + 1 :], saga_definition.steps[position + 1 :], strict=True
            ):
                if step.compensable and record.attempts > 0:
                    assert record.status is StepStatus.COMPENSATED
            assert all(r.status is not StepStatus.COMPENSATED for r in steps[:position])
        assert saga.next_attempt_at is None
        if saga.cancel_reason is not None:
            # A cancel recorded while running is acted on at the next decision, before anything.
            assert saga.state is not SagaState.COMPLETED
            assert saga.failure_reason == "cancelled"
