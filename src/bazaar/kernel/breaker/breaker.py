"""The circuit breaker's async driver: asks the store for a permit, makes the call, reports back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

from bazaar.kernel.breaker.core import (
    Admission,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    Outcome,
    Permit,
    Transition,
)
from bazaar.kernel.breaker.errors import BreakerStoreError, CircuitOpenError
from bazaar.kernel.breaker.events import (
    BreakerClosed,
    BreakerEvent,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerStoreFailed,
    CallFailed,
    CallRejected,
    CallSucceeded,
)
from bazaar.kernel.breaker.listeners import NullListener
from bazaar.kernel.breaker.machine import BreakerMachine
from bazaar.kernel.breaker.memory import InMemoryBreakerStore
from bazaar.kernel.breaker.ports import BreakerListener, BreakerStore, LocalBreakerStore
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError

__all__ = ["SLOW_CALL_ERROR_TYPE", "BreakerGuard", "CircuitBreaker", "Excluded"]

P = ParamSpec("P")
T = TypeVar("T")

Excluded = tuple[type[BaseException], ...] | Callable[[BaseException], bool]
"""Exceptions that are not the dependency's fault: a tuple of types, or a predicate."""

SLOW_CALL_ERROR_TYPE = "SlowCall"

_ALLOW = Admission.ALLOW
_REJECT = Admission.REJECT
_SUCCESS = Outcome.SUCCESS
_FAILURE = Outcome.FAILURE
_CANCELLED = Outcome.CANCELLED
# Handed out when the shared store cannot be reached: the call goes ahead, nothing is recorded.
_UNTRACKED = Permit(_ALLOW, -1)


class CircuitBreaker:
    """Circuit breaker (Nygard, *Release It!*) guarding one dependency.

    State transitions (decided by ``BreakerMachine`` or, in Redis, by the same rules in Lua)::

        CLOSED    -> OPEN       failure rate >= threshold over >= minimum_calls in the sliding
                                window, or consecutive_failures failures in a row
        OPEN      -> HALF_OPEN  on the first call after cooldown_s
        HALF_OPEN -> CLOSED     all half_open_probes probe calls succeeded
        HALF_OPEN -> OPEN       a probe failed; the cooldown starts again

    A rejected call raises ``CircuitOpenError`` without calling. An exception counts as a
    failure unless ``excluded`` says otherwise (a business decline is an answer, so it counts
    as a success); a call slower than ``slow_call_s`` counts as a failure. A cancelled call
    (``asyncio.CancelledError``, or any other ``BaseException`` that is not an ``Exception``)
    counts as neither, and gives back its half-open probe slot. Put timeouts inside the
    breaker: an ``asyncio.timeout`` around it cancels the call, which is not counted.

    With an in-process store (``LocalBreakerStore``) every decision is synchronous: the closed
    hot path makes no await but the call's, takes no lock and builds no object of its own (the
    permit is shared; per-call events are built only for a listener other than
    ``NullListener``, and the clock is read only for slow calls or events). With a shared
    store (Redis) the
    breaker fails open: if the store is unreachable the call goes ahead unrecorded and a
    ``BreakerStoreFailed`` event is emitted, so a Redis outage does not become a dependency
    outage.
    """

    __slots__ = (
        "_emit_calls",
        "_fast_machine",
        "_is_excluded",
        "_listener",
        "_machine",
        "_monotonic",
        "_slow_call_s",
        "_store",
        "_timed",
        "config",
        "name",
    )

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        clock: Clock | None = None,
        *,
        store: BreakerStore | None = None,
        listener: BreakerListener | None = None,
        excluded: Excluded = (),
    ) -> None:
        """Create a breaker.

        Args:
            name: The dependency it guards (``psp``); the store key and the metric label.
            config: Thresholds and recovery; the capabilities.md defaults when None.
            clock: Times calls (slow calls, event durations); the system clock when None.
            store: Where the state lives; a private ``InMemoryBreakerStore`` when None.
            listener: Receives the events; ``NullListener`` when None.
            excluded: Exception types, or a predicate on the exception, that do not count
                as failures.

        Raises:
            ConfigurationError: If ``excluded`` holds something that is not an exception type.
        """
        self.name = name
        self.config = config if config is not None else BreakerConfig()
        clock = clock if clock is not None else SystemClock()
        self._store: BreakerStore = store if store is not None else InMemoryBreakerStore(clock)
        # The capability is checked once, here: an in-process store is driven synchronously.
        self._machine: BreakerMachine | None = (
            self._store.machine(name, self.config)
            if isinstance(self._store, LocalBreakerStore)
            else None
        )
        self._listener: BreakerListener = listener if listener is not None else NullListener()
        # Exactly NullListener: a subclass may well want its events.
        self._emit_calls = type(self._listener) is not NullListener
        self._monotonic = clock.monotonic
        self._slow_call_s = self.config.slow_call_s
        self._timed = self._slow_call_s is not None or self._emit_calls
        # Set when calls need neither a clock nor an event: the closed hot path then is one
        # attribute read before the call and one machine.record after it.
        self._fast_machine = self._machine if not self._timed else None
        self._is_excluded = _exclusion_predicate(excluded)

    @property
    def store(self) -> BreakerStore:
        """The store holding this breaker's state."""
        return self._store

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``await fn(*args, **kwargs)`` if the breaker admits it.

        Args:
            fn: An async callable reaching the dependency.
            *args: Positional arguments for ``fn``.
            **kwargs: Keyword arguments for ``fn``.

        Returns:
            What ``fn`` returned.

        Raises:
            CircuitOpenError: If the breaker is open, or all half-open probe slots are taken;
                ``fn`` is not called.
            BaseException: Whatever ``fn`` raised, unchanged, after it was counted.
        """
        machine = self._fast_machine
        if machine is not None:
            permit = machine.closed_permit
            if permit is not None:
                # The closed hot path: no event, no await but the call's; one clock read, in
                # record, to place the outcome in the window.
                try:
                    # Spreading an empty dict still costs a dict unpacking, and most calls
                    # pass no keywords. mypy cannot see that P.kwargs is empty below.
                    coro = fn(*args, **kwargs) if kwargs else fn(*args)  # type: ignore[call-arg]
                    result = await coro
                except BaseException as exc:
                    self._settle_local(machine, permit, self._classify(exc), 0.0, exc)
                    raise
                transition = machine.record(permit, _SUCCESS)
                if transition is not None:
                    self._emit_transition(transition)
                return result
        return await self._call_general(fn, *args, **kwargs)

    def guard(self) -> BreakerGuard:
        """A context manager admitting the block it wraps as one call.

        ``async with breaker.guard(): ...`` works on every store; ``with breaker.guard():``
        needs an in-process store (``LocalBreakerStore``). Use a fresh guard per block.

        Returns:
            The guard; entering it raises ``CircuitOpenError`` if the call is rejected.
        """
        return BreakerGuard(self)

    async def snapshot(self) -> BreakerSnapshot:
        """The breaker's state and window figures, for ``GET /api/v1/admin/breakers``.

        Returns:
            The snapshot (read from Redis for a shared store).

        Raises:
            BreakerStoreError: If the shared store cannot be read.
        """
        if self._machine is not None:
            return self._machine.snapshot(self.name)
        return await self._store.read(self.name, self.config)

    # --- every path off the hot one: timed calls, other states, shared stores ---

    async def _call_general(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        permit = await self._acquire()
        started = self._monotonic() if self._timed else 0.0
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            duration = self._monotonic() - started if self._timed else 0.0
            await self._settle(permit, self._classify(exc), duration, exc)
            raise
        duration = self._monotonic() - started if self._timed else 0.0
        await self._settle(permit, _SUCCESS, duration, None)
        return result

    async def _acquire(self) -> Permit:
        if self._machine is not None:
            return self._acquire_local(self._machine)
        try:
            permit = await self._store.acquire(self.name, self.config)
        except BreakerStoreError as exc:
            self._store_failed("acquire", exc)
            return _UNTRACKED
        if permit.admission is not _ALLOW:
            self._on_admission(permit)
        return permit

    async def _settle(
        self, permit: Permit, outcome: Outcome, duration: float, exc: BaseException | None
    ) -> None:
        if self._machine is not None:
            self._settle_local(self._machine, permit, outcome, duration, exc)
            return
        if self._emit_calls and outcome is not _CANCELLED:
            self._listener.on_event(self._call_event(outcome, duration, exc))
        if permit is _UNTRACKED:
            return
        try:
            transition = await self._store.record(self.name, self.config, permit, outcome, duration)
        except BreakerStoreError as error:
            # The call's own result (or exception) matters more than the bookkeeping.
            self._store_failed("record", error)
            return
        if transition is not None:
            self._emit_transition(transition)

    def _acquire_local(self, machine: BreakerMachine) -> Permit:
        permit = machine.closed_permit
        if permit is None:
            permit = machine.acquire()
            self._on_admission(permit)
        return permit

    def _settle_local(
        self,
        machine: BreakerMachine,
        permit: Permit,
        outcome: Outcome,
        duration: float,
        exc: BaseException | None,
    ) -> None:
        transition = machine.record(permit, outcome, duration)
        if self._emit_calls and outcome is not _CANCELLED:
            self._listener.on_event(self._call_event(outcome, duration, exc))
        if transition is not None:
            self._emit_transition(transition)

    def _require_machine(self) -> BreakerMachine:
        if self._machine is None:
            raise ConfigurationError(
                "store",
                f"{type(self._store).__name__} is not a LocalBreakerStore; "
                "use 'async with breaker.guard()'",
            )
        return self._machine

    def _classify(self, exc: BaseException) -> Outcome:
        if not isinstance(exc, Exception):
            # CancelledError, KeyboardInterrupt, SystemExit: the caller stopped waiting; the
            # dependency did not fail.
            return _CANCELLED
        return _SUCCESS if self._is_excluded(exc) else _FAILURE

    def _call_event(
        self, outcome: Outcome, duration: float, exc: BaseException | None
    ) -> BreakerEvent:
        if outcome is _FAILURE and exc is not None:
            return CallFailed(self.name, duration, type(exc).__name__)
        slow = self._slow_call_s
        if slow is not None and duration > slow:
            return CallFailed(self.name, duration, SLOW_CALL_ERROR_TYPE)
        return CallSucceeded(self.name, duration)

    def _on_admission(self, permit: Permit) -> None:
        if permit.transition is not None:
            self._emit_transition(permit.transition)
        if permit.admission is _REJECT:
            if self._emit_calls:
                self._listener.on_event(CallRejected(self.name))
            raise CircuitOpenError(self.name, permit.retry_after_s)

    def _emit_transition(self, transition: Transition) -> None:
        event: BreakerEvent
        if transition.to_state is BreakerState.OPEN:
            event = BreakerOpened(
                self.name, transition.failure_rate, transition.calls, transition.reason
            )
        elif transition.to_state is BreakerState.HALF_OPEN:
            event = BreakerHalfOpened(self.name)
        else:
            event = BreakerClosed(self.name)
        self._listener.on_event(event)

    def _store_failed(self, operation: str, error: BreakerStoreError) -> None:
        cause = error.__cause__ if error.__cause__ is not None else error
        self._listener.on_event(BreakerStoreFailed(self.name, operation, type(cause).__name__))


class BreakerGuard:
    """Admits the block it wraps as one call of its breaker; exceptions pass through.

    ``async with`` on every store; plain ``with`` only on an in-process store, where it
    decides synchronously (no await at all). A friend of ``CircuitBreaker``: it drives the
    breaker's own paths, so both forms count exactly as ``call`` does.
    """

    __slots__ = ("_breaker", "_permit", "_started")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    async def __aenter__(self) -> None:
        breaker = self._breaker
        self._permit = await breaker._acquire()
        self._started = breaker._monotonic() if breaker._timed else 0.0

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        breaker = self._breaker
        duration = breaker._monotonic() - self._started if breaker._timed else 0.0
        outcome = _SUCCESS if exc is None else breaker._classify(exc)
        await breaker._settle(self._permit, outcome, duration, exc)

    def __enter__(self) -> None:
        breaker = self._breaker
        machine = breaker._fast_machine
        permit = machine.closed_permit if machine is not None else None
        if permit is not None:
            self._permit = permit
            return
        self._permit = breaker._acquire_local(breaker._require_machine())
        self._started = breaker._monotonic() if breaker._timed else 0.0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        breaker = self._breaker
        machine = breaker._fast_machine
        if machine is not None:
            if exc is None:
                # The closed hot path, as in CircuitBreaker.call.
                transition = machine.record(self._permit, _SUCCESS)
                if transition is not None:
                    breaker._emit_transition(transition)
                return
            breaker._settle_local(machine, self._permit, breaker._classify(exc), 0.0, exc)
            return
        machine = breaker._require_machine()
        duration = breaker._monotonic() - self._started
        outcome = _SUCCESS if exc is None else breaker._classify(exc)
        breaker._settle_local(machine, self._permit, outcome, duration, exc)


def _exclusion_predicate(excluded: Excluded) -> Callable[[BaseException], bool]:
    if isinstance(excluded, type):
        # A bare exception class is callable too; taken as a predicate it would construct an
        # exception (truthy) and so exclude everything. It means a one-element tuple.
        excluded = (excluded,)
    if not isinstance(excluded, tuple):
        return excluded
    for item in excluded:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigurationError("excluded", f"{item!r} is not an exception type")
    types = excluded
    return lambda exc: isinstance(exc, types)
