"""The saga driver: carries out ``decide``'s decisions against the log, one step at a time.

Each step runs in one transaction with the saga log's update (the step's local effect and
the log commit together); a step marked ``write_ahead`` first records that it started, in a
transaction of its own, because its effect lies outside (a PSP call). Every write is
checked by version: a write that finds the saga changed (a cancel, another process that
took the lease over) rolls the step back, reloads and decides again — or, when another
process owns the saga now, stops.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Generic

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.observability import tracing
from bazaar.kernel.retry import full_jitter
from bazaar.kernel.saga import machine
from bazaar.kernel.saga.errors import SagaConflictError, SagaNotFoundError, StepError
from bazaar.kernel.saga.events import SagaFinished, SagaStepFailed, SagaStepSucceeded
from bazaar.kernel.saga.machine import (
    BeginCompensation,
    CompensateStep,
    Finished,
    GiveUpStep,
    RunStep,
    WaitUntil,
)
from bazaar.kernel.saga.model import SagaDefinition, SagaRecord
from bazaar.kernel.saga.ports import SagaListener, StepHandler, TransactionT, TransitionHook

__all__ = ["SagaRunner"]

_log = logging.getLogger("bazaar.saga")


class SagaRunner(Generic[TransactionT]):
    """Orchestrated Saga pattern (Garcia-Molina & Salem, 1987): the driver of one saga type.

    Args:
        definition: The steps, their timeouts and retry policies.
        handlers: Step name → its action and compensation (every step needs one; a
            compensable step needs a compensation).
        transactions: Opens a transaction holding the saga log (the context's unit of work).
        owner: This process's name in the log's leases.
        clock: Time (timestamps, lease expiry and the waits between attempts).
        lease_s: How long a lease lasts without a write. It must outlast every step's
            timeout: the lease is renewed by each write, never during a step.
        rng: The jitter of retry delays (seeded in tests).
        listener: Receives ``SagaStepSucceeded``, ``SagaStepFailed`` and ``SagaFinished``.
        on_transition: Called in the transaction of every write that changes the saga's
            state (running → compensating → compensated...), before it commits: the
            context's own record (the order's status) moves with the saga, atomically.

    Raises:
        ConfigurationError: a step without handler, a compensable step without compensation,
            or a step timeout not shorter than the lease.
    """

    def __init__(
        self,
        definition: SagaDefinition,
        handlers: Mapping[str, StepHandler[TransactionT]],
        transactions: Callable[[], TransactionT],
        *,
        owner: str,
        clock: Clock,
        lease_s: float = 30.0,
        rng: random.Random | None = None,
        listener: SagaListener | None = None,
        on_transition: TransitionHook[TransactionT] | None = None,
    ) -> None:
        for step in definition.steps:
            handler = handlers.get(step.name)
            if handler is None:
                raise ConfigurationError("handlers", f"step {step.name!r} has no handler")
            if step.compensable and handler.compensation is None:
                raise ConfigurationError("handlers", f"step {step.name!r} has no compensation")
            if step.timeout_s >= lease_s:
                raise ConfigurationError(
                    "lease_s", f"must be longer than step {step.name!r}'s timeout"
                )
        self.definition = definition
        self._handlers = dict(handlers)
        self._transactions = transactions
        self.owner = owner
        self._clock = clock
        self._lease_s = lease_s
        self._rng = rng or random.Random()
        self._listener = listener
        self._on_transition = on_transition

    # --- entry points ---

    async def start(
        self, tx: TransactionT, saga_id: int, tenant_id: int, data: Mapping[str, Any]
    ) -> SagaRecord:
        """Store a new saga in the caller's open transaction, leased to this runner.

        The caller commits it together with whatever begins the saga (the order), then
        calls ``run``; if the process dies first, the lease runs out and a sweep resumes it.
        """
        saga = machine.new_saga(self.definition, saga_id, tenant_id, data, self._now())
        return await tx.sagas.insert(saga, owner=self.owner, lease_until=self._lease_until(saga))

    async def run(self, saga_id: int, *, started: SagaRecord | None = None) -> SagaRecord | None:
        """Drive the saga to its end; None when another process holds it.

        Args:
            saga_id: the saga.
            started: the record ``start`` returned, once its transaction committed: the
                saga is leased to this runner already, so the claim (a transaction) is
                skipped. Safe if the lease ran out meanwhile: the first write then finds
                the version moved, and the runner claims or stops like after any conflict.

        Raises:
            SagaNotFoundError: no such saga.
            ConfigurationError: the stored saga is not of this runner's definition (another
                type, or steps that changed since it started).
        """
        if started is not None and started.id == saga_id and started.name == self.definition.name:
            return await self._drive(started)
        saga = await self._claim(saga_id)
        if saga is None:
            return None
        return await self._drive(saga)

    async def release(self, saga_id: int) -> None:
        """Give the lease back (shutdown), so another process need not wait for it to run out."""
        async with self._transactions() as tx:
            await tx.sagas.release(saga_id, owner=self.owner)
            await tx.commit()

    # --- the loop ---

    async def _drive(self, saga: SagaRecord) -> SagaRecord | None:
        current: SagaRecord | None = saga
        while current is not None:
            now = self._now()
            decision = machine.decide(current, self.definition, now)
            if isinstance(decision, Finished):
                if current.state.terminal:
                    return current
                current = await self._write(current, machine.finish_compensation(current, now))
            elif isinstance(decision, WaitUntil):
                await self._clock.sleep(max(0.0, (decision.at - now).total_seconds()))
            elif isinstance(decision, BeginCompensation):
                current = await self._write(
                    current, machine.begin_compensation(current, decision.reason, now)
                )
            elif isinstance(decision, GiveUpStep):
                current = await self._write(current, self._give_up(current, decision.index, now))
            elif isinstance(decision, RunStep):
                with self._step_span(current, decision.index, decision.attempt, "run"):
                    current = await self._run_step(current, decision)
            else:
                with self._step_span(current, decision.index, decision.attempt, "compensate"):
                    current = await self._compensate(current, decision)
        return None

    def _step_span(
        self, saga: SagaRecord, index: int, attempt: int, action: str
    ) -> AbstractContextManager[Span]:
        """A span per step attempt, in the trace of whoever launched the saga (the request
        that placed the order, through the task's context); a saga resumed by a sweep
        starts a trace of its own."""
        step = self.definition.steps[index].name
        return tracing.tracer().start_as_current_span(
            f"saga {saga.name} {action} {step}",
            attributes={
                "bazaar.saga.name": saga.name,
                "bazaar.saga.id": str(saga.id),
                "bazaar.saga.step": step,
                "bazaar.saga.action": action,
                "bazaar.attempt": attempt,
            },
            # A failed step sets its status from the classified error (``_run_step``).
            record_exception=False,
            set_status_on_exception=False,
        )

    async def _run_step(self, saga: SagaRecord, decision: RunStep) -> SagaRecord | None:
        index = decision.index
        step = self.definition.steps[index]
        started = machine.step_started(saga, index, self._now())
        if step.write_ahead:
            written = await self._write(saga, started)
            if written is None or written.steps[index] != started.steps[index]:
                return written  # the saga changed meanwhile: decide again from what is stored
            started = written
        handler = self._handlers[step.name]
        began = self._clock.monotonic()
        try:
            async with self._transactions() as tx:
                async with asyncio.timeout(step.timeout_s):
                    produced = await handler.action(started, tx)
                done = machine.step_succeeded(started, index, self._now(), produced)
                saved = await self._store(tx, started, done)
                await tx.commit()
        except SagaConflictError:
            return await self._claim(saga.id)
        except Exception as exc:  # every failure of a step is recorded, none lost
            error, reason, retryable = self._classify(exc, step.timeout_s)
            trace.get_current_span().set_status(Status(StatusCode.ERROR, error))
            self._emit(
                SagaStepFailed(
                    saga.name, saga.id, step.name, decision.attempt, False, error, retryable
                )
            )
            failed = machine.step_failed(
                started,
                self.definition,
                index,
                self._now(),
                error=error,
                reason=reason,
                retryable=retryable,
                retry_delay_s=full_jitter(step.retry, decision.attempt, self._rng),
            )
            return await self._write(started, failed)
        self._emit(
            SagaStepSucceeded(
                saga.name, saga.id, step.name, decision.attempt, False, self._since(began)
            )
        )
        self._finished(saga, saved)
        return saved

    async def _compensate(self, saga: SagaRecord, decision: CompensateStep) -> SagaRecord | None:
        index = decision.index
        step = self.definition.steps[index]
        compensation = self._handlers[step.name].compensation
        if compensation is None:  # refused at construction; kept for the type checker
            raise ConfigurationError("handlers", f"step {step.name!r} has no compensation")
        started = machine.compensation_started(saga, index, self._now())
        began = self._clock.monotonic()
        try:
            async with self._transactions() as tx:
                async with asyncio.timeout(step.timeout_s):
                    await compensation(started, tx)
                done = machine.step_compensated(started, self.definition, index, self._now())
                saved = await self._store(tx, started, done)
                await tx.commit()
        except SagaConflictError:
            return await self._claim(saga.id)
        except Exception as exc:  # a failed compensation is retried or parked
            error, _, retryable = self._classify(exc, step.timeout_s)
            trace.get_current_span().set_status(Status(StatusCode.ERROR, error))
            self._emit(
                SagaStepFailed(
                    saga.name, saga.id, step.name, decision.attempt, True, error, retryable
                )
            )
            failed = machine.compensation_failed(
                started,
                self.definition,
                index,
                self._now(),
                error=error,
                retryable=retryable,
                retry_delay_s=full_jitter(step.compensation_retry, decision.attempt, self._rng),
            )
            return await self._write(started, failed)
        self._emit(
            SagaStepSucceeded(
                saga.name, saga.id, step.name, decision.attempt, True, self._since(began)
            )
        )
        self._finished(saga, saved)
        return saved

    def _give_up(self, saga: SagaRecord, index: int, now: datetime) -> SagaRecord:
        step = saga.steps[index]
        error = f"interrupted {step.attempts} times (the process stopped mid-step); gave up"
        self._emit(
            SagaStepFailed(saga.name, saga.id, step.name, step.attempts, False, error, False)
        )
        return machine.step_failed(
            saga,
            self.definition,
            index,
            now,
            error=error,
            reason=None,
            retryable=False,
            retry_delay_s=0.0,
        )

    # --- the log ---

    async def _write(self, before: SagaRecord, after: SagaRecord) -> SagaRecord | None:
        """Store ``after`` (read at ``before.version``); on a conflict, reload instead."""
        try:
            async with self._transactions() as tx:
                saved = await self._store(tx, before, after)
                await tx.commit()
        except SagaConflictError:
            return await self._claim(before.id)
        self._finished(before, saved)
        return saved

    async def _store(self, tx: TransactionT, before: SagaRecord, after: SagaRecord) -> SagaRecord:
        if self._on_transition is not None and after.state is not before.state:
            await self._on_transition(after, tx)
        return await tx.sagas.save(after, owner=self.owner, lease_until=self._lease_until(after))

    async def _claim(self, saga_id: int) -> SagaRecord | None:
        """Take (or keep) the lease and read the saga as stored; None if someone else holds it."""
        now = self._clock.now()
        async with self._transactions() as tx:
            saga = await tx.sagas.get(saga_id)
            if saga is None:
                raise SagaNotFoundError(saga_id)
            self._check_shape(saga)
            if saga.state.terminal:
                return saga
            # A saga waiting for a retry is leased over the wait too, as every write does:
            # now + lease_s alone would lapse while this runner sleeps, and a sweep elsewhere
            # would take the saga over.
            if not await tx.sagas.claim(
                saga_id, owner=self.owner, now=now, lease_until=self._lease_until(saga)
            ):
                return None
            claimed = await tx.sagas.get(saga_id)
            await tx.commit()
        return claimed

    # --- helpers ---

    def _check_shape(self, saga: SagaRecord) -> None:
        # decide() pairs the record's steps with the definition's by position: a saga of
        # another type, or one stored under a definition whose steps have changed since,
        # would run the wrong step's code against it.
        stored = (saga.name, tuple(step.name for step in saga.steps))
        expected = (self.definition.name, tuple(step.name for step in self.definition.steps))
        if stored != expected:
            raise ConfigurationError(
                "definition",
                f"saga {saga.id} is {stored[0]!r} with steps {list(stored[1])}; this runner "
                f"drives {expected[0]!r} with steps {list(expected[1])}",
            )

    def _classify(self, exc: Exception, timeout_s: float) -> tuple[str, str | None, bool]:
        if isinstance(exc, StepError):
            return exc.message, exc.reason, exc.retryable
        if isinstance(exc, TimeoutError):
            return f"timed out after {timeout_s:g} s", None, True
        _log.warning("saga step raised an unexpected error", exc_info=exc)
        return f"{type(exc).__name__}: {exc}", None, True

    def _finished(self, before: SagaRecord, after: SagaRecord) -> None:
        if after.state.terminal and not before.state.terminal:
            self._emit(SagaFinished(after.name, after.id, after.state, after.failure_reason))

    def _emit(self, event: object) -> None:
        if self._listener is not None:
            self._listener.on_event(event)

    def _lease_until(self, saga: SagaRecord) -> float:
        now = self._clock.now()
        waiting = 0.0
        if saga.next_attempt_at is not None:
            waiting = max(0.0, saga.next_attempt_at.timestamp() - now)
        return now + waiting + self._lease_s

    def _now(self) -> datetime:
        return utc_from_timestamp(self._clock.now())

    def _since(self, began: float) -> float:
        return max(0.0, self._clock.monotonic() - began)
