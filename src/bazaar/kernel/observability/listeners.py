"""Listeners that turn the kernel blocks' typed events into metrics (blocks never import them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bazaar.kernel.observability.metrics import Metrics
from bazaar.kernel.shedding import RequestShed

__all__ = ["MetricsListener"]


class MetricsListener:
    """One listener for every block: dispatches each event type to its metric update.

    Event types it does not know are ignored, so a block can emit more than is measured.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            RequestShed: self._shed,
        }

    def on_event(self, event: object) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _shed(self, event: RequestShed) -> None:
        self.metrics.shed_total.labels(event.reason.value).inc()
