"""The saga driver over the in-memory log: steps, retries, timeouts, compensation, leases,
crash recovery through the supervisor, and cancels that race a step in flight."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest

from bazaar.kernel.clock import ManualClock, utc_from_timestamp
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry import RetryPolicy, full_jitter
from bazaar.kernel.saga import (
    InMemorySagaStore,
    InMemorySagaTransaction,
    SagaDefinition,
    SagaFinished,
    SagaNotFoundError,
    SagaRecord,
    SagaRunner,
    SagaState,
    SagaStepFailed,
    SagaStepSucceeded,
    SagaSupervisor,
    StepDefinition,
    StepFailedError,
    StepHandler,
    StepRetryableError,
    StepStatus,
    machine,
    request_cancel,
)

SAGA_ID = 41
LEASE_S = 30.0

Tx: TypeAlias = InMemorySagaTransaction
StepCall: TypeAlias = Callable[[SagaRecord, Tx], Awaitable[Mapping[str, Any] | None]]
# What one attempt does: return a dict (or None), raise an exception, hang, or run a function.
Outcome: TypeAlias = Mapping[str, Any] | BaseException | StepCall | str | None
HANG = "hang"


class RecordingListener:
    def __init__(self) -> None:
        self.events: list[object] = []

    def on_event(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type[object]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


@dataclass
class Script:
    """Each step's outcomes, attempt by attempt (success once a list runs out)."""

    actions: dict[str, list[Outcome]] = field(default_factory=dict)
    compensations: dict[str, list[Outcome]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    never: asyncio.Event = field(default_factory=asyncio.Event)

    def handlers(self, definition: SagaDefinition) -> dict[str, StepHandler[Tx]]:
        return {
            step.name: StepHandler(
                self._call("do", step.name, self.actions),
                self._call("undo", step.name, self.compensations) if step.compensable else None,
            )
            for step in definition.steps
        }

    def _call(self, kind: str, name: str, outcomes: dict[str, list[Outcome]]) -> StepCall:
        async def call(saga: SagaRecord, tx: Tx) -> Mapping[str, Any] | None:
            self.calls.append((kind, name))
            queue = outcomes.get(name, [])
            outcome = queue.pop(0) if queue else None
            if outcome == HANG:
                await self.never.wait()  # never set: only a timeout or a cancel ends it
            if isinstance(outcome, BaseException):
                raise outcome
            if callable(outcome):
                return await outcome(saga, tx)
            return outcome if isinstance(outcome, Mapping) else None

        return call


@dataclass
class Env:
    store: InMemorySagaStore = field(default_factory=InMemorySagaStore)
    clock: ManualClock = field(default_factory=ManualClock)
    listener: RecordingListener = field(default_factory=RecordingListener)

    def transaction(self) -> Tx:
        return InMemorySagaTransaction(self.store)

    def runner(
        self,
        definition: SagaDefinition,
        script: Script,
        *,
        owner: str = "proc-a",
        lease_s: float = LEASE_S,
        listener: RecordingListener | None = None,
    ) -> SagaRunner[Tx]:
        return SagaRunner(
            definition,
            script.handlers(definition),
            self.transaction,
            owner=owner,
            clock=self.clock,
            lease_s=lease_s,
            rng=random.Random(7),
            listener=listener or self.listener,
        )

    async def start(
        self, runner: SagaRunner[Tx], data: Mapping[str, Any] | None = None
    ) -> SagaRecord:
        async with self.transaction() as tx:
            saga = await runner.start(tx, SAGA_ID, 5, data or {"order_id": 9})
            await tx.commit()
        return saga

    def stored(self, saga_id: int = SAGA_ID) -> SagaRecord:
        return self.store.rows[saga_id].record

    def owner(self, saga_id: int = SAGA_ID) -> str | None:
        return self.store.rows[saga_id].owner

    async def cancel(self, reason: str, saga_id: int = SAGA_ID) -> None:
        """What a "cancel order" handler does: it does not drive the saga, so it writes with
        ``update`` (the lease stays with the runner, which picks the cancel up)."""
        async with self.transaction() as tx:
            saga = await tx.sagas.get(saga_id)
            assert saga is not None
            cancelled = request_cancel(saga, reason, utc_from_timestamp(self.clock.now()))
            await tx.sagas.update(cancelled)
            await tx.commit()


@pytest.fixture
def env() -> Env:
    return Env()


def checkout(*overrides: StepDefinition) -> SagaDefinition:
    """reserve → pay → ship, with any step replaced by one of the same name."""
    by_name = {step.name: step for step in overrides}
    names = ("reserve", "pay", "ship")
    return SagaDefinition("checkout", tuple(by_name.get(n, StepDefinition(n)) for n in names))


async def nothing(saga: SagaRecord, tx: Tx) -> None:
    return None


def statuses(saga: SagaRecord) -> list[StepStatus]:
    return [step.status for step in saga.steps]


def started_and_blocked(
    entered: asyncio.Event, gate: asyncio.Event, produced: Mapping[str, Any] | None = None
) -> StepCall:
    async def call(saga: SagaRecord, tx: Tx) -> Mapping[str, Any] | None:
        entered.set()
        await gate.wait()
        return produced

    return call


class TestConfiguration:
    def test_every_step_needs_a_handler(self, env: Env) -> None:
        definition = checkout()
        handlers = Script().handlers(definition)
        del handlers["pay"]
        with pytest.raises(ConfigurationError, match="'pay' has no handler") as raised:
            SagaRunner(definition, handlers, env.transaction, owner="a", clock=env.clock)
        assert raised.value.key == "handlers"

    def test_a_compensable_step_needs_a_compensation(self, env: Env) -> None:
        definition = checkout()
        handlers = Script().handlers(definition)
        handlers["ship"] = StepHandler(handlers["ship"].action)
        with pytest.raises(ConfigurationError, match="'ship' has no compensation"):
            SagaRunner(definition, handlers, env.transaction, owner="a", clock=env.clock)

    def test_a_step_that_cannot_be_compensated_needs_no_compensation(self, env: Env) -> None:
        definition = checkout(StepDefinition("ship", compensable=False))
        runner = env.runner(definition, Script())
        assert runner.definition is definition

    @pytest.mark.parametrize("timeout_s", [LEASE_S, LEASE_S + 1])
    def test_a_step_timeout_must_be_shorter_than_the_lease(
        self, env: Env, timeout_s: float
    ) -> None:
        definition = checkout(StepDefinition("pay", timeout_s=timeout_s))
        with pytest.raises(ConfigurationError, match="'pay'") as raised:
            env.runner(definition, Script(), lease_s=LEASE_S)
        assert raised.value.key == "lease_s"


class TestHappyPath:
    async def test_runs_every_step_in_order_and_merges_what_they_produce(self, env: Env) -> None:
        script = Script(actions={"reserve": [{"reservation_id": "r-1"}], "pay": [{"psp": "p-1"}]})
        runner = env.runner(checkout(), script)
        started = await env.start(runner)
        assert started.version == 1
        assert env.owner() == "proc-a"

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert done.data == {"order_id": 9, "reservation_id": "r-1", "psp": "p-1"}
        assert script.calls == [("do", "reserve"), ("do", "pay"), ("do", "ship")]
        assert statuses(done) == [StepStatus.SUCCEEDED] * 3
        assert [step.attempts for step in done.steps] == [1, 1, 1]
        assert env.stored() == done
        assert done.failure_reason is None

    async def test_a_saga_it_just_started_runs_without_a_claim_transaction(self, env: Env) -> None:
        script = Script(actions={"reserve": [{}], "pay": [{}]})
        runner = env.runner(checkout(), script)
        started = await env.start(runner)
        before = env.store.commits

        done = await runner.run(SAGA_ID, started=started)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert env.store.commits - before == 3  # one per step, no claim

    async def test_a_started_record_gone_stale_is_claimed_after_the_conflict(
        self, env: Env
    ) -> None:
        script = Script(actions={"reserve": [{}], "pay": [{}]})
        runner = env.runner(checkout(), script)
        started = await env.start(runner)
        await env.cancel("customer")  # the stored version moved on

        done = await runner.run(SAGA_ID, started=started)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.failure_reason == "customer"

    async def test_a_step_sees_what_the_steps_before_it_produced(self, env: Env) -> None:
        seen: list[Mapping[str, Any]] = []

        async def pay(saga: SagaRecord, tx: Tx) -> Mapping[str, Any]:
            seen.append(dict(saga.data))
            return {"psp": "p-1"}

        script = Script(actions={"reserve": [{"reservation_id": "r-1"}], "pay": [pay]})
        runner = env.runner(checkout(), script)
        await env.start(runner)
        await runner.run(SAGA_ID)
        assert seen == [{"order_id": 9, "reservation_id": "r-1"}]

    async def test_emits_a_success_per_step_and_the_end_once(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        await env.start(runner)
        await runner.run(SAGA_ID)

        succeeded = env.listener.of(SagaStepSucceeded)
        assert [(e.step, e.attempt, e.compensation) for e in succeeded] == [
            ("reserve", 1, False),
            ("pay", 1, False),
            ("ship", 1, False),
        ]
        assert all(e.saga == "checkout" and e.saga_id == SAGA_ID for e in succeeded)
        assert env.listener.of(SagaFinished) == [
            SagaFinished("checkout", SAGA_ID, SagaState.COMPLETED, None)
        ]
        assert env.listener.events[-1] == env.listener.of(SagaFinished)[0]
        assert env.listener.of(SagaStepFailed) == []

    async def test_running_a_finished_saga_returns_it_and_runs_nothing(self, env: Env) -> None:
        script = Script()
        runner = env.runner(checkout(), script)
        await env.start(runner)
        done = await runner.run(SAGA_ID)
        calls, events, commits = len(script.calls), len(env.listener.events), env.store.commits

        again = await runner.run(SAGA_ID)

        assert again == done
        assert (len(script.calls), len(env.listener.events)) == (calls, events)
        assert env.store.commits == commits

    async def test_an_unknown_saga_is_not_found(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        with pytest.raises(SagaNotFoundError):
            await runner.run(404)

    @pytest.mark.parametrize(
        "other",
        [
            SagaDefinition("refund", (StepDefinition("reserve"), StepDefinition("pay"))),
            SagaDefinition("checkout", (StepDefinition("reserve"), StepDefinition("ship"))),
        ],
        ids=["another-type", "changed-steps"],
    )
    async def test_refuses_a_saga_stored_under_another_definition(
        self, env: Env, other: SagaDefinition
    ) -> None:
        await env.start(env.runner(checkout(), Script()))
        before = env.stored()
        script = Script()
        wrong = env.runner(other, script, owner="proc-b")

        with pytest.raises(ConfigurationError) as raised:
            await wrong.run(SAGA_ID)

        assert raised.value.key == "definition"
        assert script.calls == []
        assert env.stored() == before
        assert env.owner() == "proc-a"

    async def test_a_started_saga_is_stored_only_with_the_callers_commit(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        async with env.transaction() as tx:
            await runner.start(tx, SAGA_ID, 5, {})
        assert env.store.rows == {}


class TestFailures:
    async def test_a_permanent_failure_compensates_in_reverse_order(self, env: Env) -> None:
        script = Script(
            actions={"pay": [StepFailedError("declined", reason="card_declined")]},
        )
        runner = env.runner(checkout(StepDefinition("pay", retry=RetryPolicy(3))), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.failure_reason == "card_declined"
        # The failed attempt may have reached the PSP: it is compensated too, before reserve.
        assert script.calls == [
            ("do", "reserve"),
            ("do", "pay"),
            ("undo", "pay"),
            ("undo", "reserve"),
        ]
        assert statuses(done) == [
            StepStatus.COMPENSATED,
            StepStatus.COMPENSATED,
            StepStatus.SKIPPED,
        ]
        assert done.steps[1].attempts == 1  # permanent: never retried
        assert done.steps[1].error == "declined"
        failed = env.listener.of(SagaStepFailed)
        assert [(e.step, e.retryable, e.error) for e in failed] == [("pay", False, "declined")]
        assert env.listener.of(SagaFinished) == [
            SagaFinished("checkout", SAGA_ID, SagaState.COMPENSATED, "card_declined")
        ]
        undone = [e.step for e in env.listener.of(SagaStepSucceeded) if e.compensation]
        assert undone == ["pay", "reserve"]

    async def test_a_step_that_cannot_be_compensated_is_left_alone(self, env: Env) -> None:
        definition = SagaDefinition(
            "checkout",
            (
                StepDefinition("reserve"),
                StepDefinition("notify", compensable=False),
                StepDefinition("pay"),
            ),
        )
        script = Script(actions={"pay": [StepFailedError("declined")]})
        runner = env.runner(definition, script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert ("undo", "notify") not in script.calls
        assert script.calls[-2:] == [("undo", "pay"), ("undo", "reserve")]
        assert statuses(done) == [
            StepStatus.COMPENSATED,
            StepStatus.SUCCEEDED,
            StepStatus.COMPENSATED,
        ]
        assert done.failure_reason == "step_failed"

    async def test_retryable_failures_are_retried_after_a_jittered_backoff(self, env: Env) -> None:
        policy = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=8.0)
        script = Script(
            actions={"pay": [StepRetryableError("psp down"), StepRetryableError("psp down"), None]}
        )
        runner = env.runner(checkout(StepDefinition("pay", retry=policy)), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert done.steps[1].attempts == 3
        assert done.steps[1].error is None
        # The waits come from the injected random source (the runner's seed is 7), to the
        # microsecond the log's timestamps keep.
        rng = random.Random(7)
        expected = [full_jitter(policy, 1, rng), full_jitter(policy, 2, rng)]
        assert env.clock.sleeps == pytest.approx(expected, abs=1e-6)
        assert [(e.attempt, e.retryable) for e in env.listener.of(SagaStepFailed)] == [
            (1, True),
            (2, True),
        ]
        assert [e.attempt for e in env.listener.of(SagaStepSucceeded) if e.step == "pay"] == [3]

    async def test_running_out_of_attempts_compensates(self, env: Env) -> None:
        script = Script(
            actions={
                "pay": [StepRetryableError("psp down", reason="psp_unavailable") for _ in "ab"]
            }
        )
        pay = StepDefinition("pay", retry=RetryPolicy(max_attempts=2), failure_reason="unpaid")
        runner = env.runner(checkout(pay), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.failure_reason == "psp_unavailable"
        assert done.steps[1].attempts == 2
        assert script.calls.count(("do", "pay")) == 2
        assert script.calls[-2:] == [("undo", "pay"), ("undo", "reserve")]

    async def test_an_unexpected_error_counts_as_retryable(self, env: Env) -> None:
        script = Script(actions={"reserve": [RuntimeError("connection reset"), None]})
        reserve = StepDefinition("reserve", retry=RetryPolicy(max_attempts=2))
        runner = env.runner(checkout(reserve), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        [failed] = env.listener.of(SagaStepFailed)
        assert failed.retryable
        assert failed.error == "RuntimeError: connection reset"

    async def test_a_step_that_times_out_is_retried(self, env: Env) -> None:
        script = Script(actions={"pay": [HANG, {"psp": "p-1"}]})
        pay = StepDefinition("pay", timeout_s=0.05, retry=RetryPolicy(max_attempts=2))
        runner = env.runner(checkout(pay), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert done.data["psp"] == "p-1"
        [failed] = env.listener.of(SagaStepFailed)
        assert (failed.step, failed.error, failed.retryable) == (
            "pay",
            "timed out after 0.05 s",
            True,
        )

    async def test_a_step_that_keeps_timing_out_is_compensated(self, env: Env) -> None:
        script = Script(actions={"pay": [HANG, HANG]})
        pay = StepDefinition(
            "pay",
            timeout_s=0.05,
            retry=RetryPolicy(max_attempts=2),
            failure_reason="payment_timeout",
        )
        runner = env.runner(checkout(pay), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.failure_reason == "payment_timeout"
        assert done.steps[1].error == "timed out after 0.05 s"
        assert statuses(done)[:2] == [StepStatus.COMPENSATED, StepStatus.COMPENSATED]

    async def test_a_failing_compensation_is_retried(self, env: Env) -> None:
        script = Script(
            actions={"pay": [StepFailedError("declined")]},
            compensations={"reserve": [StepRetryableError("db busy"), None]},
        )
        reserve = StepDefinition("reserve", compensation_retry=RetryPolicy(max_attempts=2))
        runner = env.runner(checkout(reserve), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.steps[0].compensation_attempts == 2
        assert script.calls.count(("undo", "reserve")) == 2
        failed = [e for e in env.listener.of(SagaStepFailed) if e.compensation]
        assert [(e.step, e.attempt) for e in failed] == [("reserve", 1)]

    async def test_a_compensation_that_fails_for_good_parks_the_saga(self, env: Env) -> None:
        script = Script(
            actions={"pay": [StepFailedError("declined", reason="card_declined")]},
            compensations={"reserve": [StepFailedError("stock ledger closed")]},
        )
        runner = env.runner(checkout(), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.NEEDS_ATTENTION
        assert done.attention_reason == "compensation of step 'reserve' failed: stock ledger closed"
        assert done.failure_reason == "card_declined"
        assert statuses(done) == [
            StepStatus.COMPENSATING,
            StepStatus.COMPENSATED,
            StepStatus.SKIPPED,
        ]
        assert env.listener.of(SagaFinished) == [
            SagaFinished("checkout", SAGA_ID, SagaState.NEEDS_ATTENTION, "card_declined")
        ]
        assert env.stored() == done

    async def test_a_compensation_that_keeps_timing_out_parks_the_saga(self, env: Env) -> None:
        script = Script(
            actions={"pay": [StepFailedError("declined")]},
            compensations={"pay": [HANG, HANG]},
        )
        pay = StepDefinition("pay", timeout_s=0.05, compensation_retry=RetryPolicy(2))
        runner = env.runner(checkout(pay), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.NEEDS_ATTENTION
        assert done.attention_reason is not None
        assert "'pay'" in done.attention_reason
        assert "timed out" in done.attention_reason
        assert ("undo", "reserve") not in script.calls  # nothing before a stuck step is undone


class TestTransitionHook:
    def runner(
        self, env: Env, script: Script, seen: list[tuple[SagaState, bool]]
    ) -> SagaRunner[Tx]:
        async def on_transition(saga: SagaRecord, tx: Tx) -> None:
            # Called inside the write's transaction, before it commits.
            seen.append((saga.state, tx.committed))

        definition = checkout()
        return SagaRunner(
            definition,
            script.handlers(definition),
            env.transaction,
            owner="proc-a",
            clock=env.clock,
            rng=random.Random(7),
            on_transition=on_transition,
        )

    async def test_is_called_once_per_change_of_state(self, env: Env) -> None:
        seen: list[tuple[SagaState, bool]] = []
        runner = self.runner(env, Script(), seen)
        await env.start(runner)
        await runner.run(SAGA_ID)
        assert seen == [(SagaState.COMPLETED, False)]

    async def test_follows_a_saga_through_compensation_to_the_manual_path(self, env: Env) -> None:
        seen: list[tuple[SagaState, bool]] = []
        script = Script(
            actions={"pay": [StepFailedError("declined")]},
            compensations={"reserve": [StepFailedError("ledger closed")]},
        )
        runner = self.runner(env, script, seen)
        await env.start(runner)
        await runner.run(SAGA_ID)
        assert seen == [(SagaState.COMPENSATING, False), (SagaState.NEEDS_ATTENTION, False)]

    async def test_sees_a_cancel_compensate(self, env: Env) -> None:
        seen: list[tuple[SagaState, bool]] = []
        runner = self.runner(env, Script(), seen)
        await env.start(runner)
        await env.cancel("customer_cancelled")
        await runner.run(SAGA_ID)
        assert seen == [(SagaState.COMPENSATING, False), (SagaState.COMPENSATED, False)]


class TestWriteAhead:
    async def test_records_the_step_running_before_its_action(self, env: Env) -> None:
        seen: list[tuple[StepStatus, int]] = []

        async def pay(saga: SagaRecord, tx: Tx) -> None:
            committed = env.stored().step("pay")
            seen.append((committed.status, committed.attempts))

        script = Script(actions={"pay": [pay]})
        runner = env.runner(checkout(StepDefinition("pay", write_ahead=True)), script)
        await env.start(runner)

        done = await runner.run(SAGA_ID)

        assert seen == [(StepStatus.RUNNING, 1)]
        assert done is not None
        assert done.state is SagaState.COMPLETED

    async def test_each_attempt_is_recorded_before_it_runs(self, env: Env) -> None:
        seen: list[int] = []

        async def pay(saga: SagaRecord, tx: Tx) -> None:
            seen.append(env.stored().step("pay").attempts)
            if len(seen) == 1:
                raise StepRetryableError("psp down")

        script = Script(actions={"pay": [pay, pay]})
        pay_step = StepDefinition("pay", write_ahead=True, retry=RetryPolicy(max_attempts=2))
        runner = env.runner(checkout(pay_step), script)
        await env.start(runner)

        await runner.run(SAGA_ID)

        assert seen == [1, 2]

    async def test_a_step_without_write_ahead_is_stored_only_with_its_effect(
        self, env: Env
    ) -> None:
        seen: list[StepStatus] = []

        async def reserve(saga: SagaRecord, tx: Tx) -> None:
            seen.append(env.stored().step("reserve").status)

        runner = env.runner(checkout(), Script(actions={"reserve": [reserve]}))
        await env.start(runner)
        await runner.run(SAGA_ID)
        assert seen == [StepStatus.PENDING]


async def crash_in_flight(how: str, task: asyncio.Task[Any], entered: asyncio.Event) -> None:
    await entered.wait()
    if how == "cancel":
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class TestCrashRecovery:
    @pytest.mark.parametrize("how", ["cancel", "raise"])
    async def test_another_process_resumes_after_the_lease_runs_out(
        self, env: Env, how: str
    ) -> None:
        entered = asyncio.Event()

        async def crash(saga: SagaRecord, tx: Tx) -> None:
            entered.set()
            if how == "raise":
                raise asyncio.CancelledError  # the process goes away mid-step
            await asyncio.Event().wait()

        script = Script(actions={"pay": [crash, {"psp": "p-2"}]})
        definition = checkout(
            StepDefinition("pay", write_ahead=True, retry=RetryPolicy(max_attempts=2))
        )
        first = env.runner(definition, script, owner="proc-a")
        second = env.runner(definition, script, owner="proc-b")
        supervisor = SagaSupervisor({"checkout": second}, env.transaction, clock=env.clock)
        await env.start(first)

        await crash_in_flight(how, asyncio.create_task(first.run(SAGA_ID)), entered)

        # The log shows the interrupted step may have happened; the dead process's lease holds.
        assert env.stored().step("pay").status is StepStatus.RUNNING
        assert env.owner() == "proc-a"
        assert await supervisor.sweep() == 0
        assert await second.run(SAGA_ID) is None

        env.clock.advance(LEASE_S + 1)
        assert await supervisor.sweep() == 1
        done = await supervisor.wait(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert done.data["psp"] == "p-2"
        assert script.calls.count(("do", "pay")) == 2  # re-run: idempotence is the step's job
        assert script.calls.count(("do", "reserve")) == 1
        assert done.steps[1].attempts == 2
        assert env.owner() == "proc-b"
        assert supervisor.resumed == 1

    async def test_a_step_interrupted_as_often_as_it_may_run_fails_and_compensates(
        self, env: Env
    ) -> None:
        entered = asyncio.Event()

        async def crash(saga: SagaRecord, tx: Tx) -> None:
            entered.set()
            await asyncio.Event().wait()

        script = Script(actions={"pay": [crash]})
        definition = checkout(StepDefinition("pay", write_ahead=True))  # one attempt
        first = env.runner(definition, script, owner="proc-a")
        second = env.runner(definition, script, owner="proc-b")
        await env.start(first)
        await crash_in_flight("cancel", asyncio.create_task(first.run(SAGA_ID)), entered)
        env.clock.advance(LEASE_S + 1)

        done = await second.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.step("pay").status is StepStatus.COMPENSATED
        assert "interrupted 1 times" in (done.step("pay").error or "")
        assert script.calls.count(("do", "pay")) == 1  # not started a second time

    async def test_a_step_without_write_ahead_interrupted_leaves_no_trace(self, env: Env) -> None:
        entered = asyncio.Event()

        async def crash(saga: SagaRecord, tx: Tx) -> None:
            entered.set()
            await asyncio.Event().wait()

        script = Script(actions={"reserve": [crash]})
        first = env.runner(checkout(), script, owner="proc-a")
        second = env.runner(checkout(), script, owner="proc-b")
        await env.start(first)

        await crash_in_flight("cancel", asyncio.create_task(first.run(SAGA_ID)), entered)

        assert env.stored().step("reserve").status is StepStatus.PENDING
        env.clock.advance(LEASE_S + 1)
        done = await second.run(SAGA_ID)
        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert done.steps[0].attempts == 1

    async def test_a_saga_never_run_after_its_start_is_resumed(self, env: Env) -> None:
        script = Script()
        first = env.runner(checkout(), script, owner="proc-a")
        second = env.runner(checkout(), script, owner="proc-b")
        supervisor = SagaSupervisor({"checkout": second}, env.transaction, clock=env.clock)
        await env.start(first)  # committed, then the process died before run()

        env.clock.advance(LEASE_S + 1)
        assert await supervisor.sweep() == 1
        done = await supervisor.wait(SAGA_ID)
        assert done is not None
        assert done.state is SagaState.COMPLETED

    async def test_a_resumed_saga_that_failed_carries_on_compensating(self, env: Env) -> None:
        entered = asyncio.Event()

        async def crash(saga: SagaRecord, tx: Tx) -> None:
            entered.set()
            await asyncio.Event().wait()

        script = Script(
            actions={"pay": [StepFailedError("declined")]},
            compensations={"pay": [crash]},
        )
        first = env.runner(checkout(), script, owner="proc-a")
        second = env.runner(checkout(), script, owner="proc-b")
        await env.start(first)

        await crash_in_flight("cancel", asyncio.create_task(first.run(SAGA_ID)), entered)
        assert env.stored().state is SagaState.COMPENSATING

        env.clock.advance(LEASE_S + 1)
        done = await second.run(SAGA_ID)
        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert script.calls[-3:] == [("undo", "pay"), ("undo", "pay"), ("undo", "reserve")]


class TestCancel:
    @pytest.mark.parametrize("write_ahead", [False, True])
    async def test_a_cancel_during_a_step_makes_the_runner_reload_and_compensate(
        self, env: Env, write_ahead: bool
    ) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        pay = started_and_blocked(entered, gate, {"psp": "p-1"})
        script = Script(actions={"pay": [pay]})
        runner = env.runner(checkout(StepDefinition("pay", write_ahead=write_ahead)), script)
        await env.start(runner)
        task = asyncio.create_task(runner.run(SAGA_ID))
        await entered.wait()

        await env.cancel("customer_cancelled")
        gate.set()
        done = await task

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert done.failure_reason == "customer_cancelled"
        assert done.cancel_reason == "customer_cancelled"
        assert "psp" not in done.data  # the step's own write lost to the cancel
        forward = [e.step for e in env.listener.of(SagaStepSucceeded) if not e.compensation]
        assert forward == ["reserve"]
        if write_ahead:
            # Its outside effect may have happened: undone, after nothing later, before reserve.
            assert script.calls[-2:] == [("undo", "pay"), ("undo", "reserve")]
            assert statuses(done)[:2] == [StepStatus.COMPENSATED, StepStatus.COMPENSATED]
        else:
            # Its effect was in the transaction that rolled back: nothing of it to undo.
            assert script.calls[-1:] == [("undo", "reserve")]
            assert statuses(done) == [
                StepStatus.COMPENSATED,
                StepStatus.SKIPPED,
                StepStatus.SKIPPED,
            ]
        assert env.listener.of(SagaFinished) == [
            SagaFinished("checkout", SAGA_ID, SagaState.COMPENSATED, "customer_cancelled")
        ]
        assert env.owner() == "proc-a"

    async def test_a_cancel_leaves_the_lease_with_the_runner(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        await env.start(runner)
        lease_until = env.store.rows[SAGA_ID].lease_until

        await env.cancel("customer_cancelled")

        assert env.owner() == "proc-a"
        assert env.store.rows[SAGA_ID].lease_until == lease_until
        assert await env.runner(checkout(), Script(), owner="proc-b").run(SAGA_ID) is None

    async def test_a_cancel_before_the_first_step_runs_nothing(self, env: Env) -> None:
        script = Script()
        runner = env.runner(checkout(), script)
        await env.start(runner)
        await env.cancel("customer_cancelled")

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert script.calls == []
        assert statuses(done) == [StepStatus.SKIPPED] * 3

    async def test_a_cancel_after_completion_changes_nothing(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        await env.start(runner)
        done = await runner.run(SAGA_ID)
        await env.cancel("too_late")
        assert env.stored().state is SagaState.COMPLETED
        assert env.stored().cancel_reason is None
        assert done is not None


class TestLease:
    async def test_a_second_runner_cannot_take_a_saga_whose_lease_holds(self, env: Env) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        script = Script(actions={"pay": [started_and_blocked(entered, gate)]})
        first = env.runner(checkout(), script, owner="proc-a")
        second = env.runner(checkout(), script, owner="proc-b")
        await env.start(first)
        task = asyncio.create_task(first.run(SAGA_ID))
        await entered.wait()

        env.clock.advance(LEASE_S - 1)
        assert await second.run(SAGA_ID) is None
        gate.set()
        done = await task

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert script.calls.count(("do", "pay")) == 1

    async def test_every_write_renews_the_lease(self, env: Env) -> None:
        lease: list[float] = []

        async def pay(saga: SagaRecord, tx: Tx) -> None:
            lease.append(env.store.rows[SAGA_ID].lease_until - env.clock.now())
            env.clock.advance(5)

        runner = env.runner(
            checkout(StepDefinition("pay", write_ahead=True)), Script({"pay": [pay]})
        )
        await env.start(runner)
        env.clock.advance(20)
        await runner.run(SAGA_ID)
        assert lease == [LEASE_S]
        assert env.store.rows[SAGA_ID].lease_until == env.clock.now() + LEASE_S

    async def test_a_runner_that_lost_its_lease_cannot_overwrite_the_new_owner(
        self, env: Env
    ) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        script = Script(actions={"pay": [started_and_blocked(entered, gate, {"psp": "stale"})]})
        first_listener = RecordingListener()
        first = env.runner(checkout(), script, owner="proc-a", listener=first_listener)
        second = env.runner(checkout(), script, owner="proc-b")
        await env.start(first)
        task = asyncio.create_task(first.run(SAGA_ID))
        await entered.wait()

        env.clock.advance(LEASE_S + 1)  # the first process stalled past its lease
        taken_over = await second.run(SAGA_ID)
        assert taken_over is not None
        version = env.stored().version
        gate.set()
        late = await task

        assert env.stored().version == version
        assert env.stored().data.get("psp") is None
        assert late == taken_over  # it reloaded and found the saga finished by the other
        assert first_listener.of(SagaFinished) == []

    async def test_a_saga_waiting_for_a_retry_stays_leased_through_the_wait(self, env: Env) -> None:
        # Resumed by a claim (not a write) while a long retry delay is pending.
        waits: list[tuple[float, float]] = []
        store = env.store

        class WatchingClock(ManualClock):
            async def sleep(self, seconds: float) -> None:
                waits.append((store.rows[SAGA_ID].lease_until, self.now() + seconds))
                await super().sleep(seconds)

        env.clock = WatchingClock()
        pay = StepDefinition(
            "pay", retry=RetryPolicy(max_attempts=2, base_delay_s=100, max_delay_s=100)
        )
        definition = checkout(pay)
        now = utc_from_timestamp(env.clock.now())
        saga = machine.step_succeeded(
            machine.step_started(machine.new_saga(definition, SAGA_ID, 5, {}, now), 0, now), 0, now
        )
        saga = machine.step_failed(
            machine.step_started(saga, 1, now),
            definition,
            1,
            now,
            error="psp down",
            reason=None,
            retryable=True,
            retry_delay_s=100,
        )
        async with env.transaction() as tx:  # a dead process's saga, its lease run out
            await tx.sagas.insert(saga, owner="proc-a", lease_until=env.clock.now() - 1)
            await tx.commit()

        runner = env.runner(definition, Script(), owner="proc-b")
        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        [(lease_until, wakes_at)] = waits
        assert lease_until >= wakes_at + LEASE_S


class TestSupervisor:
    def supervisor(self, env: Env, runner: SagaRunner[Tx]) -> SagaSupervisor:
        return SagaSupervisor({"checkout": runner}, env.transaction, clock=env.clock)

    async def test_launch_drives_a_saga_in_the_background_once(self, env: Env) -> None:
        script = Script()
        runner = env.runner(checkout(), script)
        supervisor = self.supervisor(env, runner)
        await env.start(runner)

        task = supervisor.launch("checkout", SAGA_ID)
        assert supervisor.launch("checkout", SAGA_ID) is task
        assert supervisor.running == 1
        done = await task

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert script.calls.count(("do", "reserve")) == 1
        await asyncio.sleep(0)  # the done-callback runs on the next loop turn
        assert supervisor.running == 0
        assert await supervisor.wait(SAGA_ID) == done  # as stored, once not running here

    async def test_wait_returns_the_saga_once_its_run_here_ends(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        supervisor = self.supervisor(env, runner)
        await env.start(runner)
        supervisor.launch("checkout", SAGA_ID)

        done = await supervisor.wait(SAGA_ID)

        assert done is not None
        assert done.state is SagaState.COMPLETED
        assert await supervisor.wait(404) is None

    async def test_wait_does_not_swallow_the_waiters_own_cancellation(self, env: Env) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        runner = env.runner(
            checkout(), Script(actions={"pay": [started_and_blocked(entered, gate)]})
        )
        supervisor = self.supervisor(env, runner)
        await env.start(runner)
        supervisor.launch("checkout", SAGA_ID)
        await entered.wait()

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):  # a request that gives up waiting
                await supervisor.wait(SAGA_ID)
        waiter = asyncio.create_task(supervisor.wait(SAGA_ID))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

        assert supervisor.running == 1  # the saga itself goes on
        gate.set()
        done = await supervisor.wait(SAGA_ID)
        assert done is not None
        assert done.state is SagaState.COMPLETED

    async def test_wait_on_a_saga_stopped_by_aclose_returns_it_as_stored(self, env: Env) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        runner = env.runner(
            checkout(), Script(actions={"pay": [started_and_blocked(entered, gate)]})
        )
        supervisor = self.supervisor(env, runner)
        await env.start(runner)
        supervisor.launch("checkout", SAGA_ID)
        await entered.wait()
        waiter = asyncio.create_task(supervisor.wait(SAGA_ID))
        await asyncio.sleep(0)

        await supervisor.aclose()
        stopped = await waiter

        assert stopped is not None
        assert stopped.state is SagaState.RUNNING
        assert stopped.step("pay").status is StepStatus.PENDING

    async def test_at_most_max_concurrent_sagas_make_progress(self, env: Env) -> None:
        gate = asyncio.Event()
        ran: list[int] = []

        async def reserve(saga: SagaRecord, tx: Tx) -> None:
            ran.append(saga.id)
            await gate.wait()

        script = Script(actions={"reserve": [reserve, reserve]})
        runner = env.runner(checkout(), script)
        supervisor = SagaSupervisor(
            {"checkout": runner}, env.transaction, clock=env.clock, max_concurrent=1
        )
        for saga_id in (1, 2):
            async with env.transaction() as tx:
                await runner.start(tx, saga_id, 5, {})
                await tx.commit()
            supervisor.launch("checkout", saga_id)
        for _ in range(20):
            await asyncio.sleep(0)

        assert ran == [1]  # the second waits for a slot
        assert supervisor.running == 2
        gate.set()
        assert [(await supervisor.wait(i)) is not None for i in (1, 2)] == [True, True]
        assert ran == [1, 2]
        assert {env.stored(i).state for i in (1, 2)} == {SagaState.COMPLETED}

    async def test_the_sweep_skips_sagas_of_unknown_types(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        other = SagaRunner(
            SagaDefinition("refund", (StepDefinition("a", compensable=False),)),
            {"a": StepHandler(nothing)},
            env.transaction,
            owner="proc-x",
            clock=env.clock,
        )
        async with env.transaction() as tx:
            await other.start(tx, 99, 5, {})
            await tx.commit()
        env.clock.advance(LEASE_S + 1)
        assert await self.supervisor(env, runner).sweep() == 0

    async def test_a_saga_that_stops_on_an_error_is_left_to_the_sweep(self, env: Env) -> None:
        runner = env.runner(checkout(), Script())
        supervisor = self.supervisor(env, runner)
        assert await supervisor.launch("checkout", 404) is None  # not found: logged, not raised

    async def test_aclose_hands_the_leases_back_for_another_process(self, env: Env) -> None:
        entered = asyncio.Event()

        async def slow(saga: SagaRecord, tx: Tx) -> None:
            entered.set()
            await asyncio.Event().wait()

        script = Script(actions={"pay": [slow]})
        first = env.runner(checkout(), script, owner="proc-a")
        second = env.runner(checkout(), script, owner="proc-b")
        closing = self.supervisor(env, first)
        taking_over = self.supervisor(env, second)
        await env.start(first)
        closing.launch("checkout", SAGA_ID)
        await entered.wait()

        await closing.aclose()

        assert closing.running == 0
        assert env.owner() is None
        assert await taking_over.sweep() == 1  # at once: no lease to wait out
        done = await taking_over.wait(SAGA_ID)
        assert done is not None
        assert done.state is SagaState.COMPLETED

    async def test_aclose_lets_running_sagas_finish_within_the_grace(self, env: Env) -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        script = Script(actions={"pay": [started_and_blocked(entered, gate)]})
        runner = env.runner(checkout(), script)
        supervisor = self.supervisor(env, runner)
        await env.start(runner)
        supervisor.launch("checkout", SAGA_ID)
        await entered.wait()

        gate.set()  # the step can end now; the grace is only an upper bound
        await supervisor.aclose(grace_s=60)

        assert env.stored().state is SagaState.COMPLETED
        assert script.calls.count(("do", "pay")) == 1


class TestRandomizedRuns:
    @pytest.mark.parametrize("seed", range(60))
    async def test_any_mix_of_outcomes_ends_consistent_with_one_finish(
        self, env: Env, seed: int
    ) -> None:
        chance = random.Random(seed)
        steps = tuple(
            StepDefinition(
                f"s{i}",
                compensable=chance.random() < 0.8,
                write_ahead=chance.random() < 0.5,
                retry=RetryPolicy(max_attempts=chance.randint(1, 3), base_delay_s=1, max_delay_s=4),
                compensation_retry=RetryPolicy(max_attempts=chance.randint(1, 3), base_delay_s=1),
            )
            for i in range(chance.randint(1, 5))
        )
        definition = SagaDefinition("fuzz", steps)
        cancel_on_call = chance.choice([None, *range(1, 8)])
        calls: list[tuple[str, int]] = []

        def outcome(kind: str, index: int) -> StepCall:
            async def call(saga: SagaRecord, tx: Tx) -> Mapping[str, Any] | None:
                calls.append((kind, index))
                if len(calls) == cancel_on_call:
                    await env.cancel("cancelled")
                roll = chance.random()
                if roll < 0.55:
                    return {f"s{index}": len(calls)} if kind == "do" else None
                if roll < 0.8:
                    raise StepRetryableError("transient")
                if roll < 0.9:
                    raise RuntimeError("surprise")
                raise StepFailedError("permanent", reason=f"{kind}_{index}")

            return call

        handlers = {
            step.name: StepHandler(
                outcome("do", i), outcome("undo", i) if step.compensable else None
            )
            for i, step in enumerate(steps)
        }
        runner = SagaRunner(
            definition,
            handlers,
            env.transaction,
            owner="proc-a",
            clock=env.clock,
            rng=random.Random(seed),
            listener=env.listener,
        )
        async with env.transaction() as tx:
            await runner.start(tx, SAGA_ID, 5, {})
            await tx.commit()

        done = await runner.run(SAGA_ID)

        assert done is not None
        assert done.state.terminal
        assert env.stored() == done
        assert env.listener.of(SagaFinished) == [
            SagaFinished("fuzz", SAGA_ID, done.state, done.failure_reason)
        ]
        for record, step in zip(done.steps, steps, strict=True):
            assert record.attempts <= step.retry.max_attempts
            assert record.compensation_attempts <= step.compensation_retry.max_attempts
        forward = [i for kind, i in calls if kind == "do"]
        undone = [i for kind, i in calls if kind == "undo"]
        assert forward == sorted(forward)
        assert undone == sorted(undone, reverse=True)
        failures = env.listener.of(SagaStepFailed)
        successes = env.listener.of(SagaStepSucceeded)
        # Every call is reported once, as a success or a failure, except a success whose
        # write lost to the cancel (it is rolled back, and reported as neither).
        assert len(failures) + len(successes) <= len(calls)
        if done.state is SagaState.COMPLETED:
            assert statuses(done) == [StepStatus.SUCCEEDED] * len(steps)
            assert undone == []
            assert len(failures) + len(successes) == len(calls)
        elif done.state is SagaState.COMPENSATED:
            for record, step in zip(done.steps, steps, strict=True):
                if step.compensable:
                    assert record.status in {StepStatus.COMPENSATED, StepStatus.SKIPPED}
        else:
            assert done.attention_reason is not None
            assert done.attention_reason.startswith("compensation of step ")
