"""Admission control: a bound on the work in flight in one process, with a critical reserve."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.shedding.errors import AdmissionReleaseError, OverloadedError
from bazaar.kernel.shedding.ports import Priority, RequestShed, SheddingListener, ShedReason

__all__ = [
    "DEFAULT_CRITICAL_RESERVE_RATIO",
    "AdmissionController",
    "AdmissionSnapshot",
    "shed_reason",
]

DEFAULT_CRITICAL_RESERVE_RATIO = 0.1


def shed_reason(
    in_flight: int, priority: Priority, max_in_flight: int, critical_limit: int
) -> ShedReason | None:
    """The pure admission rule: None to admit, or why the request must be shed."""
    if priority is Priority.CRITICAL:
        return None if in_flight < critical_limit else ShedReason.CRITICAL_RESERVE_EXHAUSTED
    return None if in_flight < max_in_flight else ShedReason.IN_FLIGHT_LIMIT


@dataclass(frozen=True, slots=True)
class AdmissionSnapshot:
    """The controller's bounds and counts at one moment (for metrics and the console)."""

    in_flight: int
    max_in_flight: int
    critical_limit: int
    admitted: int
    shed: int


class AdmissionController:
    """Load shedding by concurrency limit (Little's law: bounded in-flight bounds latency).

    A request is admitted while fewer than ``max_in_flight`` are being served; over that it
    is shed at once, so an overload turns into fast 503s for the excess instead of a queue
    in which every request, admitted or not, waits past its deadline. CRITICAL requests
    (health checks, payment webhooks) may use ``critical_reserve`` slots above the bound:
    they are shed last, so a saturated process still answers its orchestrator's probes and
    does not make the PSP retry webhooks it has already been sent.

    The reserve defaults to 10 % of ``max_in_flight`` (at least one slot): enough for the
    probes of a few load balancers plus a webhook burst, small enough that the bound still
    holds within 10 %.

    Every decision is a few integer operations: no lock, no I/O. Not thread-safe: one
    controller belongs to one event loop (one per worker process).
    """

    def __init__(
        self,
        max_in_flight: int,
        *,
        critical_reserve: int | None = None,
        listener: SheddingListener | None = None,
    ) -> None:
        """Create a controller with nothing in flight.

        Args:
            max_in_flight: The bound for NORMAL requests (``BAZAAR_MAX_IN_FLIGHT``).
            critical_reserve: Extra slots only CRITICAL requests may use; None for
                ``ceil(10 % of max_in_flight)``.
            listener: Receives ``RequestShed``.

        Raises:
            ConfigurationError: If ``max_in_flight`` < 1 or ``critical_reserve`` < 0.
        """
        if max_in_flight < 1:
            raise ConfigurationError("max_in_flight", f"must be at least 1, got {max_in_flight}")
        if critical_reserve is None:
            critical_reserve = max(1, math.ceil(max_in_flight * DEFAULT_CRITICAL_RESERVE_RATIO))
        elif critical_reserve < 0:
            raise ConfigurationError("critical_reserve", f"must be >= 0, got {critical_reserve}")
        self._max_in_flight = max_in_flight
        self._critical_limit = max_in_flight + critical_reserve
        self._listener = listener
        self._in_flight = 0
        self._admitted = 0
        self._shed = 0

    @property
    def in_flight(self) -> int:
        """Admitted units of work not yet released (a drain waits for this to reach 0)."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The bound for NORMAL requests."""
        return self._max_in_flight

    @property
    def critical_limit(self) -> int:
        """The bound for CRITICAL requests: ``max_in_flight`` plus the reserve."""
        return self._critical_limit

    def resize(self, max_in_flight: int, *, critical_reserve: int | None = None) -> None:
        """Change the bound at run time (operators, adaptive limits); in-flight work stays.

        Lowering the bound below what is in flight sheds new work until enough finishes.

        Raises:
            ConfigurationError: If ``max_in_flight`` < 1 or ``critical_reserve`` < 0.
        """
        if max_in_flight < 1:
            raise ConfigurationError("max_in_flight", f"must be at least 1, got {max_in_flight}")
        if critical_reserve is None:
            critical_reserve = max(1, math.ceil(max_in_flight * DEFAULT_CRITICAL_RESERVE_RATIO))
        elif critical_reserve < 0:
            raise ConfigurationError("critical_reserve", f"must be >= 0, got {critical_reserve}")
        self._max_in_flight = max_in_flight
        self._critical_limit = max_in_flight + critical_reserve

    def try_admit(self, priority: Priority = Priority.NORMAL) -> bool:
        """Admit one unit of work if the bound for its priority allows.

        Returns:
            True if admitted (the caller must ``release()`` it exactly once); False if shed,
            after telling the listener why.
        """
        return self._admit(priority) is None

    def release(self) -> None:
        """End one admitted unit of work.

        Raises:
            AdmissionReleaseError: If nothing is in flight.
        """
        if self._in_flight == 0:
            raise AdmissionReleaseError
        self._in_flight -= 1

    @contextmanager
    def admitted(self, priority: Priority = Priority.NORMAL) -> Iterator[None]:
        """Run a block as one admitted unit of work (for callers outside HTTP, e.g. workers).

        Raises:
            OverloadedError: If the work is shed; the block does not run.
        """
        reason = self._admit(priority)
        if reason is not None:
            limit = self._critical_limit if priority is Priority.CRITICAL else self._max_in_flight
            raise OverloadedError(reason.value, self._in_flight, limit)
        try:
            yield
        finally:
            self.release()

    def _admit(self, priority: Priority) -> ShedReason | None:
        reason = shed_reason(self._in_flight, priority, self._max_in_flight, self._critical_limit)
        if reason is None:
            self._in_flight += 1
            self._admitted += 1
            return None
        self._shed += 1
        if self._listener is not None:
            self._listener.on_event(RequestShed(reason, self._in_flight, priority))
        return reason

    def snapshot(self) -> AdmissionSnapshot:
        """The bounds and the counts since the controller was made."""
        return AdmissionSnapshot(
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            critical_limit=self._critical_limit,
            admitted=self._admitted,
            shed=self._shed,
        )
