"""A client span per SQL statement (capabilities §10.1), from SQLAlchemy's cursor events.

The spans join whatever trace is current when the statement runs: SQLAlchemy's asyncio
layer runs the statement in a greenlet that shares the calling task's context variables,
so a request's statements are children of its server span (or of the consumer or saga
span that runs them). A statement outside any recorded span (a poller's) gets none.
Only the statement's text is recorded, never its parameters: they hold e-mail addresses,
hashes and amounts.
"""

from __future__ import annotations

import re
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExceptionContext

from bazaar.kernel.observability import tracing

__all__ = ["trace_statements"]

# Longer statements (a bulk insert's VALUES lists) are cut; the start says what they do.
MAX_STATEMENT_CHARS = 500
_SPAN_ATTRIBUTE = "_bazaar_span"
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


def _span_name(statement: str) -> str:
    """``SELECT products``: the operation and the first table the statement names."""
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    table = _TABLE.search(statement)
    return f"{operation} {table.group(1)}" if table else operation


def trace_statements(engine: Engine, system: str) -> None:
    """Start a span before each statement ``engine`` executes and end it after.

    Args:
        engine: the synchronous engine (``AsyncEngine.sync_engine``).
        system: ``db.system.name`` of the spans (``sqlite``, ``postgresql``).
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, executemany: bool
    ) -> None:
        if context is None or not tracing.in_recorded_trace():
            return
        span = tracing.tracer().start_span(
            _span_name(statement),
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.query.text": statement[:MAX_STATEMENT_CHARS],
                "db.operation.batch": executemany,
            },
        )
        setattr(context, _SPAN_ATTRIBUTE, span)

    @event.listens_for(engine, "after_cursor_execute")
    def _end(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span: Span | None = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            setattr(context, _SPAN_ATTRIBUTE, None)
            span.end()

    @event.listens_for(engine, "handle_error")
    def _failed(exception_context: ExceptionContext) -> None:
        context = exception_context.execution_context
        span: Span | None = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            setattr(context, _SPAN_ATTRIBUTE, None)
            error = exception_context.original_exception
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()
