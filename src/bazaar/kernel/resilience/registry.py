"""The process's dependency guards by name, with their faults and breakers."""

from __future__ import annotations

from collections.abc import Iterator

from bazaar.kernel.resilience.guard import DependencyGuard

__all__ = ["DependencyRegistry"]


class DependencyRegistry:
    """Guards by dependency name (``psp``, later ``smtp``, ``db_read``, ``redis``, ``broker``).

    The fault-injection API and the admin breaker view look dependencies up here, so a new
    dependency joins both by being registered.
    """

    def __init__(self) -> None:
        self._guards: dict[str, DependencyGuard] = {}

    def register(self, guard: DependencyGuard) -> DependencyGuard:
        if guard.name in self._guards:
            raise ValueError(f"dependency {guard.name!r} is already registered")
        self._guards[guard.name] = guard
        return guard

    def get(self, name: str) -> DependencyGuard | None:
        return self._guards.get(name)

    def __iter__(self) -> Iterator[DependencyGuard]:
        return iter(self._guards.values())

    def names(self) -> list[str]:
        return sorted(self._guards)
