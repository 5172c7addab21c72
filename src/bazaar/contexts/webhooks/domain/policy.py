"""When a failed delivery is tried again, when it is given up, when an endpoint is disabled.

Pure decisions over numbers and times, no I/O: the dispatcher asks, then writes the answer.

Retry schedule (``RetrySchedule``), the delay after failed attempt *n*::

    attempt   1     2      3      4       5     6     7     8
    delay     5 s   1 min  5 min  30 min  2 h   5 h   8 h   8 h   → then abandoned

Nine attempts spread over about 23.6 h (the ~24 h of capabilities §6.7), each delay
moved by up to ±10 % of jitter so endpoints that failed together are not retried together.
The steps grow roughly exponentially, and the first is short on purpose: most failures
are a blip (a deploy, a restart) that is over in seconds — Svix retries after 5 s too.

Auto-disable rule (``DisablePolicy``): an endpoint is disabled once its last 20 attempts in
a row failed *and* that streak has lasted at least an hour. Both conditions: twenty
failures in a minute (a burst of events during a short outage) is no reason to disable,
and neither is one delivery failing for hours (it is abandoned after its schedule). Any
2xx ends the streak. A disabled endpoint gets no new deliveries and its pending ones wait;
``enable`` resumes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bazaar.contexts.webhooks.domain.model import DeliveryStatus
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.retry.ports import RandomSource

__all__ = [
    "DEFAULT_DELAYS_S",
    "DisablePolicy",
    "NextStep",
    "RetrySchedule",
]

DEFAULT_DELAYS_S: tuple[float, ...] = (5.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0, 28800.0, 28800.0)


@dataclass(frozen=True, slots=True)
class NextStep:
    """What becomes of a delivery after an attempt."""

    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Fixed delays between attempts, with proportional jitter (a value object).

    Attributes:
        delays_s: the delay after failed attempt 1, 2, …; past the last, give up.
        jitter: each delay is multiplied by a factor drawn from ``[1 - jitter, 1 + jitter]``.
    """

    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not self.delays_s or any(not math.isfinite(d) or d <= 0 for d in self.delays_s):
            raise ConfigurationError("delays_s", f"must be positive seconds, got {self.delays_s}")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError("jitter", f"must be in [0, 1), got {self.jitter}")

    @property
    def max_attempts(self) -> int:
        """Attempts in all, the first included."""
        return len(self.delays_s) + 1

    @property
    def total_s(self) -> float:
        """From the first attempt to the last, without jitter."""
        return sum(self.delays_s)

    def delay_after(self, attempt: int, rng: RandomSource) -> float | None:
        """The delay after failed attempt ``attempt`` (from 1); None once the schedule is over.

        Raises:
            ValueError: ``attempt`` is less than 1.
        """
        if attempt < 1:
            raise ValueError(f"attempts are numbered from 1, got {attempt}")
        if attempt > len(self.delays_s):
            return None
        return self.delays_s[attempt - 1] * rng.uniform(1 - self.jitter, 1 + self.jitter)

    def after_attempt(
        self, attempts: int, *, succeeded: bool, now: datetime, rng: RandomSource
    ) -> NextStep:
        """The delivery's state once its attempt number ``attempts`` ended.

        A replayed delivery whose schedule is already over gets that one attempt: if it
        fails, it is abandoned again.
        """
        if succeeded:
            return NextStep(DeliveryStatus.SUCCEEDED, None)
        delay = self.delay_after(attempts, rng)
        if delay is None:
            return NextStep(DeliveryStatus.ABANDONED, None)
        return NextStep(DeliveryStatus.FAILED, now + timedelta(seconds=delay))


@dataclass(frozen=True, slots=True)
class DisablePolicy:
    """When an endpoint's failures are persistent enough to stop sending to it.

    Attributes:
        consecutive_failures: failed attempts in a row (across its deliveries) at least.
        failing_for_s: and the first of them at least this long ago.
    """

    consecutive_failures: int = 20
    failing_for_s: float = 3600.0
    _window: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ConfigurationError(
                "consecutive_failures", f"must be at least 1, got {self.consecutive_failures}"
            )
        if not math.isfinite(self.failing_for_s) or self.failing_for_s < 0:
            raise ConfigurationError(
                "failing_for_s", f"must be seconds >= 0, got {self.failing_for_s}"
            )
        object.__setattr__(self, "_window", timedelta(seconds=self.failing_for_s))

    def should_disable(
        self, consecutive_failures: int, failing_since: datetime | None, now: datetime
    ) -> bool:
        """Whether a streak of ``consecutive_failures`` begun at ``failing_since`` is enough."""
        return (
            failing_since is not None
            and consecutive_failures >= self.consecutive_failures
            and now - failing_since >= self._window
        )

    def reason(self, consecutive_failures: int, failing_since: datetime) -> str:
        """The ``disabled_reason`` shown to the merchant."""
        return (
            f"{consecutive_failures} consecutive failed attempts since "
            f"{failing_since.isoformat(timespec='seconds')}"
        )
