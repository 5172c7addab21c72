"""Runs sagas in background tasks of this process, and resumes the ones left behind.

A saga begun by a request is driven here after the request's transaction commits; the
response does not wait for it. A saga whose process died keeps its lease until the lease
runs out; the periodic sweep then claims it (one conditional write decides between
processes) and drives it on from what its log says (capabilities §5.3: "a crashed process
resumes every unfinished saga").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from bazaar.kernel.clock import Clock
from bazaar.kernel.deadline import detach_deadline
from bazaar.kernel.saga.model import SagaRecord
from bazaar.kernel.saga.ports import SagaTransaction
from bazaar.kernel.saga.runner import SagaRunner

__all__ = ["SagaSupervisor"]

_log = logging.getLogger("bazaar.saga")

# Runs of one saga after unexpected errors, before it is left to the sweeps.
_RUN_ATTEMPTS = 5


class SagaSupervisor:
    """Background driver of the sagas of one process.

    Args:
        runners: Saga name → its runner (they share ``owner``).
        transactions: Opens a transaction holding the saga log (for the sweep).
        clock: Time, for the sweep's lease comparison and its interval.
        sweep_interval_s: How often to look for sagas whose lease ran out.
        sweep_limit: At most this many sagas claimed per sweep.
        max_concurrent: At most this many sagas make progress at once; the others wait
            their turn (a bulkhead: a rush of orders must not starve the requests of
            database connections — on SQLite there is a single writer).
    """

    def __init__(
        self,
        runners: Mapping[str, SagaRunner[Any]],
        transactions: Callable[[], SagaTransaction],
        *,
        clock: Clock,
        sweep_interval_s: float = 5.0,
        sweep_limit: int = 100,
        max_concurrent: int = 32,
    ) -> None:
        self._runners = dict(runners)
        self._transactions = transactions
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._sweep_limit = sweep_limit
        self._tasks: dict[int, asyncio.Task[SagaRecord | None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._sweeper: asyncio.Task[None] | None = None
        self.resumed = 0

    @property
    def sweeping(self) -> bool:
        """Whether the periodic sweep for abandoned sagas runs (between ``start`` and
        ``aclose``)."""
        return self._sweeper is not None

    @property
    def running(self) -> int:
        """Sagas being driven by this process now."""
        return len(self._tasks)

    def launch(
        self, name: str, saga_id: int, *, started: SagaRecord | None = None
    ) -> asyncio.Task[SagaRecord | None]:
        """Drive saga ``saga_id`` (of type ``name``) in a background task of this process.

        ``started``: the record just committed by ``SagaRunner.start`` (saves the claim).
        """
        existing = self._tasks.get(saga_id)
        if existing is not None:
            return existing
        runner = self._runners[name]
        task = asyncio.get_running_loop().create_task(self._drive(runner, saga_id, started))
        self._tasks[saga_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(saga_id, None))
        return task

    async def wait(self, saga_id: int) -> SagaRecord | None:
        """The saga once this process's run of it ended (or as stored, if it is not run here)."""
        task = self._tasks.get(saga_id)
        if task is not None:
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                # The run was stopped (aclose): answer with the log. The waiter itself being
                # cancelled (a timeout, a client gone) must propagate, never be swallowed.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        async with self._transactions() as tx:
            return await tx.sagas.get(saga_id)

    async def sweep(self) -> int:
        """Launch every saga whose lease ran out; returns how many were found."""
        async with self._transactions() as tx:
            stale = await tx.sagas.stale(now=self._clock.now(), limit=self._sweep_limit)
            records = [await tx.sagas.get(saga_id) for saga_id in stale]
        launched = 0
        for record in records:
            if record is None or record.id in self._tasks or record.name not in self._runners:
                continue
            self.launch(record.name, record.id)
            launched += 1
        self.resumed += launched
        return launched

    def start(self) -> None:
        """Sweep now and then every ``sweep_interval_s``, until ``aclose``."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Stop sweeping; let running sagas finish for ``grace_s``, then stop them.

        A saga stopped mid-step keeps its log as it was: the leases are handed back so the
        next process resumes it at once instead of waiting for them to run out.
        """
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks.values()), timeout=grace_s)
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        runner = next(iter(self._runners.values()), None)
        for saga_id in tasks:
            if runner is None:
                break
            try:
                await runner.release(saga_id)
            except Exception:  # the lease then simply runs out
                _log.warning("could not release a saga", exc_info=True, extra={"saga_id": saga_id})

    async def _drive(
        self, runner: SagaRunner[Any], saga_id: int, started: SagaRecord | None = None
    ) -> SagaRecord | None:
        # The task copied the creator's context: a request's deadline must not bound a
        # saga that outlives the response (its steps have their own timeouts).
        detach_deadline()
        async with self._slots:
            for attempt in range(1, _RUN_ATTEMPTS + 1):
                try:
                    # Only the first run may skip the claim: after an error, read again.
                    return await runner.run(saga_id, started=started if attempt == 1 else None)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The saga's own write failed (the database is busy or away). The log
                    # still says where it stands and the lease is ours: try again shortly,
                    # then leave it to the sweeps (here or elsewhere) once the lease is out.
                    _log.warning(
                        "saga run stopped on an unexpected error",
                        exc_info=True,
                        extra={"saga_id": saga_id, "attempt": attempt},
                    )
                    if attempt < _RUN_ATTEMPTS:
                        await self._clock.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
        return None

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # retried at the next interval
                _log.warning("saga sweep failed", exc_info=True)
            await self._clock.sleep(self._sweep_interval_s)
