"""Headers an envelope inherits from the code that raised its event (request id, trace).

The outbox stamps them when it writes a row, so a consumer can log and trace a message as
part of the request that caused it — one trace across the async hop (capabilities §10.1).
"""

from __future__ import annotations

from collections.abc import Callable

from bazaar.kernel.observability.context import request_id_var
from bazaar.kernel.observability.tracing import trace_headers

__all__ = [
    "add_header_source",
    "current_headers",
    "notify_outbox_written",
    "on_outbox_written",
]

_SOURCES: list[Callable[[], dict[str, str]]] = []
_OUTBOX_WATCHERS: list[Callable[[], None]] = []


def add_header_source(source: Callable[[], dict[str, str]]) -> None:
    """Register a provider of more headers; called per event batch."""
    _SOURCES.append(source)


def current_headers() -> dict[str, str]:
    """The request id and the current span's ``traceparent``, plus registered sources'."""
    headers: dict[str, str] = trace_headers()
    request_id = request_id_var.get()
    if request_id:
        headers["request_id"] = request_id
    for source in _SOURCES:
        headers.update(source())
    return headers


def on_outbox_written(watcher: Callable[[], None]) -> Callable[[], None]:
    """Call ``watcher`` after every commit in this process that wrote outbox rows.

    The relay registers here to publish at once instead of at its next poll. Returns a
    function that unregisters it.
    """
    _OUTBOX_WATCHERS.append(watcher)
    return lambda: _OUTBOX_WATCHERS.remove(watcher)


def notify_outbox_written() -> None:
    for watcher in tuple(_OUTBOX_WATCHERS):
        watcher()
