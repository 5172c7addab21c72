"""A request's deadline: an absolute monotonic time carried in a context variable (§1.10, §4.1)."""

from __future__ import annotations

import math
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType

from bazaar.kernel.clock import Clock
from bazaar.kernel.deadline.errors import DeadlineExceededError

__all__ = [
    "Deadline",
    "DeadlineScope",
    "current_deadline",
    "deadline_scope",
    "remaining_s",
    "timeout_for",
]


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment a piece of work must be finished by (a value object).

    ``expires_at`` is in the units of ``clock.monotonic()``: an absolute point, so the budget
    shrinks on its own as time passes and every hop sees what is actually left (gRPC
    propagates deadlines the same way, as an absolute time rather than a timeout). All
    deadlines of one process are expected to share one clock.
    """

    expires_at: float
    clock: Clock = field(compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Clock) -> Deadline:
        """A deadline ``seconds`` from the clock's current monotonic time.

        Raises:
            ValueError: If ``seconds`` is negative or not a finite number.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(
                f"a deadline is a finite, non-negative number of seconds, got {seconds}"
            )
        return cls(clock.monotonic() + seconds, clock)

    def remaining_s(self) -> float:
        """Seconds left before the deadline; 0.0 once it has passed (never negative)."""
        return max(0.0, self.expires_at - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.clock.monotonic() >= self.expires_at

    def earliest(self, other: Deadline | None) -> Deadline:
        """The sooner of this deadline and ``other`` (``self`` when ``other`` is None)."""
        if other is not None and other.expires_at <= self.expires_at:
            return other
        return self


_deadline_var: ContextVar[Deadline | None] = ContextVar("bazaar_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the work being done, or None outside any deadline scope."""
    return _deadline_var.get()


def detach_deadline() -> None:
    """Drop the deadline in this context: for work that outlives the request that began it.

    A task copies its creator's context, deadline included; a saga started by a request runs
    on after the response, under its own step timeouts, so its task calls this first.
    """
    _deadline_var.set(None)


def remaining_s() -> float | None:
    """Seconds left of the deadline in scope (never negative), or None when there is none.

    This is the ``deadline_remaining`` callable the retry driver takes.
    """
    deadline = _deadline_var.get()
    return None if deadline is None else deadline.remaining_s()


def timeout_for(own_timeout_s: float) -> float:
    """The timeout to give one downstream call: its own, capped by what the deadline leaves.

    Args:
        own_timeout_s: The call's configured timeout (e.g. ``psp_timeout_s``), in seconds.

    Returns:
        ``min(own_timeout_s, remaining)``, or ``own_timeout_s`` when no deadline is in scope.

    Raises:
        ValueError: If ``own_timeout_s`` is not a positive number.
        DeadlineExceededError: If the deadline in scope has already passed: a call with no
            time left cannot succeed, so it is not started.
    """
    if not own_timeout_s > 0:  # also refuses NaN
        raise ValueError(f"a timeout is a positive number of seconds, got {own_timeout_s}")
    deadline = _deadline_var.get()
    if deadline is None:
        return own_timeout_s
    left = deadline.expires_at - deadline.clock.monotonic()
    if left <= 0:
        raise DeadlineExceededError(overdue_s=-left)
    return min(own_timeout_s, left)


def deadline_scope(seconds: float, clock: Clock) -> DeadlineScope:
    """Run a block under a deadline ``seconds`` from now, or the enclosing one if sooner.

    ``with deadline_scope(2.0, clock) as deadline: ...``. Nested scopes only ever shorten
    the budget: an inner scope asking for more time than the outer one has left gets the
    outer deadline. The previous deadline is restored on exit. Set in a coroutine, the
    deadline is seen by everything it awaits and by tasks it creates (they copy the
    context).

    Args:
        seconds: The budget of the block, in seconds.
        clock: Where monotonic time comes from.

    Returns:
        A context manager whose ``__enter__`` returns the deadline in effect in the block.

    Raises:
        ValueError: If ``seconds`` is negative or not a finite number.
    """
    return DeadlineScope(Deadline.after(seconds, clock))


class DeadlineScope:
    """The context manager of ``deadline_scope``.

    A class rather than a ``@contextmanager`` generator: it runs once per HTTP request, and
    the generator machinery costs several times the work it wraps.
    """

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        if self._token is not None:
            raise RuntimeError("a deadline scope cannot be entered twice")
        deadline = self._deadline.earliest(_deadline_var.get())
        self._token = _deadline_var.set(deadline)
        return deadline

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _deadline_var.reset(self._token)
            self._token = None
