"""The rate limiter the HTTP layer uses: one limit over a store, with a failure mode and events."""

from __future__ import annotations

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.ratelimit.errors import RateLimitStoreError
from bazaar.kernel.ratelimit.events import RequestAdmitted, RequestLimited, StoreFailed
from bazaar.kernel.ratelimit.listeners import NullListener
from bazaar.kernel.ratelimit.policy import Decision, FailureMode, RateLimit
from bazaar.kernel.ratelimit.ports import LocalRateLimitStore, RateLimitListener, RateLimitStore

__all__ = ["FAIL_CLOSED_RETRY_CAP_S", "RateLimiter"]

# A fail-closed rejection asks the client back after min(period, 1 s): soon enough that a
# short Redis blip costs one retry, not a whole window, and long enough not to invite a
# tight retry loop against a store that is down.
FAIL_CLOSED_RETRY_CAP_S = 1.0


class RateLimiter:
    """Applies one ``RateLimit`` to keys (an IP, an account, an API key) through a store.

    Failure modes, when the store raises ``RateLimitStoreError`` (the shared store is down):

    * ``FailureMode.OPEN`` (default): the request is admitted, ``remaining = limit``; a Redis
      outage then costs the protection, not the API.
    * ``FailureMode.CLOSED``: the request is refused with ``retry_after_s = min(period, 1 s)``
      and ``remaining = 0``; for limits guarding against abuse, such as login attempts.

    Either way the decision says ``store_failed`` and a ``StoreFailed`` event is emitted
    (instead of ``RequestAdmitted`` / ``RequestLimited``). Every other decision emits
    ``RequestAdmitted`` or ``RequestLimited``, except a peek (cost 0), which is not a request,
    and unless the listener is a ``NullListener``.
    With an in-process store (``LocalRateLimitStore``) a decision makes no await at all.
    """

    __slots__ = (
        "_clock",
        "_decide_now",
        "_emit",
        "_listener",
        "_store",
        "failure_mode",
        "limit",
        "name",
    )

    def __init__(
        self,
        name: str,
        limit: RateLimit,
        store: RateLimitStore,
        *,
        failure_mode: FailureMode = FailureMode.OPEN,
        listener: RateLimitListener | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Create a limiter.

        Args:
            name: What it limits (``login``, ``api``); carried by its events.
            limit: The limit applied to every key.
            store: Where the state lives.
            failure_mode: What to answer when the store fails.
            listener: Receives the events; ``NullListener`` when None.
            clock: Dates the answers given when the store fails (``reset_at``); the system
                clock when None. The store keeps its own time for real decisions.
        """
        self.name = name
        self.limit = limit
        self.failure_mode = failure_mode
        self._store = store
        # Checked once, here: an in-process store is called synchronously.
        self._decide_now = store.decide_now if isinstance(store, LocalRateLimitStore) else None
        self._listener: RateLimitListener = listener if listener is not None else NullListener()
        # Exactly NullListener: a subclass may well want its events.
        self._emit = type(self._listener) is not NullListener
        self._clock: Clock = clock if clock is not None else SystemClock()

    @property
    def store(self) -> RateLimitStore:
        """The store holding this limiter's state."""
        return self._store

    async def decide(self, key: str, cost: int = 1) -> Decision:
        """Decide a request of ``cost`` units for ``key``.

        Args:
            key: Whose allowance.
            cost: Units the request takes, ``0..limit``; 0 peeks without consuming.

        Returns:
            The decision; when the store failed, the failure mode's answer.

        Raises:
            ValueError: If ``cost`` is negative or greater than the limit.
        """
        try:
            if self._decide_now is not None:
                decision = self._decide_now(self.limit, key, cost)
            else:
                decision = await self._store.decide(self.limit, key, cost)
        except RateLimitStoreError as exc:
            return self._store_failed(exc)
        if self._emit and cost:  # a peek is not a request: nothing was admitted or refused
            if decision.allowed:
                self._listener.on_event(RequestAdmitted(self.name, key))
            else:
                self._listener.on_event(RequestLimited(self.name, key, decision.retry_after_s))
        return decision

    async def reset(self, key: str) -> None:
        """Forget ``key``'s state (e.g. after a successful login).

        Args:
            key: Whose allowance.

        Raises:
            RateLimitStoreError: If the store fails: a reset that did not happen must not
                pass silently.
        """
        await self._store.reset(self.limit, key)

    def _store_failed(self, exc: RateLimitStoreError) -> Decision:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        self._listener.on_event(StoreFailed(self.name, type(cause).__name__, self.failure_mode))
        now = self._clock.now()
        limit = self.limit.limit
        if self.failure_mode is FailureMode.OPEN:
            return Decision(True, limit, limit, now, 0.0, store_failed=True)
        retry = min(self.limit.period_s, FAIL_CLOSED_RETRY_CAP_S)
        return Decision(False, limit, 0, now + retry, retry, store_failed=True)
