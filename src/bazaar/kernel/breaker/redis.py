"""Redis breaker store: every process shares one view of each breaker, decided atomically in Lua."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from bazaar.kernel.breaker.core import (
    Admission,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    Outcome,
    Permit,
    Transition,
    TransitionReason,
)
from bazaar.kernel.breaker.errors import BreakerStoreError
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_KEY_PREFIX", "DEFAULT_SYNC_INTERVAL_S", "RedisBreakerStore"]

DEFAULT_KEY_PREFIX = "bazaar:breaker:"
DEFAULT_SYNC_INTERVAL_S = 0.2
# A breaker untouched for a day is forgotten; it comes back closed. Dependencies are a small
# fixed set, so this is hygiene for renamed ones, not a memory bound.
_KEY_TTL_MS = 86_400_000

_STATES = {state.value: state for state in BreakerState}
_ADMISSIONS = {"allow": Admission.ALLOW, "probe": Admission.PROBE, "reject": Admission.REJECT}
_REASONS = {reason.value: reason for reason in TransitionReason}
_FROM_STATE = {Admission.ALLOW: BreakerState.CLOSED, Admission.PROBE: BreakerState.HALF_OPEN}


@functools.cache
def _script_source() -> str:
    return (resources.files("bazaar.kernel.breaker") / "resources" / "breaker.lua").read_text(
        encoding="utf-8"
    )


@dataclass(frozen=True, slots=True)
class _Reply:
    """One answer of the script, parsed."""

    verdict: str
    state: BreakerState
    generation: int
    retry_after_s: float
    reason: TransitionReason | None
    failure_rate: float
    calls: int
    opened_at: float | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class _SharedView:
    """The last state this process heard from Redis, and when (local monotonic seconds)."""

    state: BreakerState
    generation: int
    retry_after_s: float
    fetched_at: float
    allow: Permit


class RedisBreakerStore:
    """Breaker state in Redis, shared by every API process (implements ``BreakerStore``).

    Each breaker is one hash. Recording an outcome is one ``EVALSHA`` of ``breaker.lua``: the
    script adds the outcome to the shared time buckets, evaluates the rules and makes any
    transition atomically, so N processes behave as one breaker. Windows and cooldowns run
    on the Redis server's ``TIME``, so processes with skewed clocks agree.

    Admission reads the shared state through a local copy at most ``sync_interval_s`` old.
    The trade-off: while the copy says CLOSED (or OPEN with cooldown left) a call costs no
    round trip, but after another process opens the breaker this one may admit calls for up
    to ``sync_interval_s`` more (their outcomes are then ignored as stale). Every reply,
    including each recorded outcome's, refreshes the copy, so under load it is rarely older
    than one call. Half-open probe slots are always claimed in Redis, never from the copy,
    so all processes together admit exactly ``half_open_probes`` probes. ``sync_interval_s=0``
    asks Redis on every admission.

    A transition is returned (and so reported to listeners) only to the process whose script
    call made it: across the fleet each transition is reported once. Other processes learn
    the new state from their next reply, without an event.
    """

    def __init__(
        self,
        redis_client: Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S,
        clock: Clock | None = None,
    ) -> None:
        """Create a store on a redis-py asyncio client.

        Args:
            redis_client: The client; it may decode responses or not.
            key_prefix: Prepended to the breaker's name to form its key.
            sync_interval_s: How old the local copy of the shared state may be when deciding
                admissions; 0 disables the copy.
            clock: For tests: the script then takes its time from ``clock.now()`` instead of
                the server's ``TIME``, so a ``ManualClock`` drives it. Its ``monotonic()``
                also ages the local copy. None (production) means server time.

        Raises:
            ConfigurationError: If ``sync_interval_s`` is negative or not finite.
        """
        if not math.isfinite(sync_interval_s) or sync_interval_s < 0:
            raise ConfigurationError(
                "sync_interval_s", f"must be a finite number of seconds >= 0, got {sync_interval_s}"
            )
        self._script = redis_client.register_script(_script_source())
        self._key_prefix = key_prefix
        self._sync_interval_s = sync_interval_s
        self._test_clock = clock
        self._monotonic = (clock if clock is not None else SystemClock()).monotonic
        self._views: dict[str, _SharedView] = {}

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._key_prefix

    async def acquire(self, name: str, config: BreakerConfig) -> Permit:
        """See ``BreakerStore.acquire``.

        Raises:
            BreakerStoreError: If Redis fails; the driver then fails open.
        """
        view = self._views.get(name)
        if view is not None:
            age = self._monotonic() - view.fetched_at
            if age < self._sync_interval_s:
                if view.state is BreakerState.CLOSED:
                    return view.allow
                if view.state is BreakerState.OPEN and view.retry_after_s - age > 0:
                    return Permit(Admission.REJECT, view.generation, view.retry_after_s - age)
        reply = await self._run("acquire", name, config)
        admission = _ADMISSIONS[reply.verdict]
        transition = None
        if reply.reason is not None:
            previous = (
                BreakerState.OPEN
                if reply.reason is TransitionReason.COOLDOWN_ELAPSED
                else BreakerState.HALF_OPEN
            )
            transition = Transition(previous, reply.state, reply.reason)
        return Permit(admission, reply.generation, reply.retry_after_s, transition)

    async def record(
        self,
        name: str,
        config: BreakerConfig,
        permit: Permit,
        outcome: Outcome,
        duration_s: float,
    ) -> Transition | None:
        """See ``BreakerStore.record``.

        Raises:
            BreakerStoreError: If Redis fails.
        """
        reply = await self._run(
            "record",
            name,
            config,
            str(permit.generation),
            permit.admission.value,
            outcome.value,
            repr(float(duration_s)),
        )
        if reply.reason is None:
            return None
        return Transition(
            _FROM_STATE.get(permit.admission, BreakerState.CLOSED),
            reply.state,
            reply.reason,
            reply.failure_rate,
            reply.calls,
        )

    async def read(self, name: str, config: BreakerConfig) -> BreakerSnapshot:
        """See ``BreakerStore.read``.

        Raises:
            BreakerStoreError: If Redis fails.
        """
        reply = await self._run("read", name, config)
        return BreakerSnapshot(
            name=name,
            state=reply.state,
            failure_rate=reply.failure_rate,
            calls=reply.calls,
            opened_at=reply.opened_at,
            consecutive_failures=reply.consecutive_failures,
        )

    async def _run(self, op: str, name: str, config: BreakerConfig, *extra: str) -> _Reply:
        now = "" if self._test_clock is None else repr(self._test_clock.now())
        args = [
            op,
            now,
            repr(float(config.failure_rate_threshold)),
            str(config.minimum_calls),
            repr(float(config.window_s)),
            str(config.window_buckets),
            str(config.consecutive_failures),
            repr(float(config.cooldown_s)),
            str(config.half_open_probes),
            "" if config.slow_call_s is None else repr(float(config.slow_call_s)),
            str(_KEY_TTL_MS),
            *extra,
        ]
        # Imported here, not at module level: redis-py costs ~0.25 s to import, and every
        # process loads this package whether or not Redis is configured.
        from redis.exceptions import RedisError

        try:
            raw = await self._script(keys=[self._key_prefix + name], args=args)
            reply = _parse(raw)
        except RedisError as exc:
            raise BreakerStoreError(name, op) from exc
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            # A reply of the wrong shape: another version of the script owns these keys.
            raise BreakerStoreError(name, op) from exc
        self._remember(name, reply)
        return reply

    def _remember(self, name: str, reply: _Reply) -> None:
        if self._sync_interval_s <= 0:
            return
        previous = self._views.get(name)
        allow = (
            previous.allow
            if previous is not None and previous.generation == reply.generation
            else Permit(Admission.ALLOW, reply.generation)
        )
        self._views[name] = _SharedView(
            reply.state, reply.generation, reply.retry_after_s, self._monotonic(), allow
        )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(raw: object) -> _Reply:
    if not isinstance(raw, list) or len(raw) != 9:
        raise ValueError(f"unexpected breaker script reply {raw!r}")
    verdict, state, gen, retry_after, reason, rate, calls, opened_at, consec = map(_text, raw)
    return _Reply(
        verdict=verdict,
        state=_STATES[state],
        generation=int(gen),
        retry_after_s=float(retry_after),
        reason=_REASONS[reason] if reason else None,
        failure_rate=float(rate),
        calls=int(calls),
        opened_at=float(opened_at) if opened_at else None,
        consecutive_failures=int(consec),
    )
