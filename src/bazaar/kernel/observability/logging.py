"""Structured JSON logs, one event per line, with secrets redacted before they are written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import orjson
import structlog
from opentelemetry import trace

from bazaar.kernel.observability.context import current_request_id, current_tenant_id

__all__ = ["REDACTED", "configure_logging", "redact"]

REDACTED = "***"

# Keys whose values are secrets whatever they hold.
_SECRET_KEY = re.compile(
    # ``pan`` only as a word of the key (``card_pan``), not inside one (``span_id``).
    r"pass(word)?|secret|token|authorization|api[_-]?key|cookie|card|cvc|cvv|(?<![a-z])pan|"
    r"private[_-]?key|operator[_-]?key|credential",
    re.IGNORECASE,
)
# Secrets that may hide inside free text (an exception message, a URL, a header dump).
_SECRET_TEXT = (
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"bz_(?:live|test)_[A-Za-z0-9_]+"),  # bazaar API keys
    re.compile(r"rt_[A-Za-z0-9_-]{20,}"),  # bazaar refresh tokens
    re.compile(r"tok_[A-Za-z0-9_]+"),  # PSP card tokens
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),  # card numbers (PAN)
    re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@"),  # passwords in URLs
)


def _redact_text(text: str) -> str:
    for pattern in _SECRET_TEXT:
        text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of ``value`` with secret-named keys masked and secret-looking text replaced."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redaction_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: (v if k == "timestamp" else redact(v, k)) for k, v in event_dict.items()}


def _add_request_context(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Request id, tenant, trace and span ids of the code that logs, when it has them."""
    request_id = current_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    tenant_id = current_tenant_id()
    if tenant_id is not None:
        event_dict.setdefault("tenant_id", tenant_id)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict


def _orjson_dumps(data: Any, **_: Any) -> str:
    return orjson.dumps(data, default=str).decode()


def configure_logging(
    level: str = "info",
    *,
    json: bool = True,
    stream: IO[str] | None = None,
    levels: Mapping[str, str] | None = None,
) -> None:
    """Route structlog and stdlib logging (uvicorn's too) through one redacting pipeline.

    Args:
        level: minimum level name.
        json: one JSON object per line (otherwise a console renderer for humans).
        stream: where lines go; stdout by default, a StringIO in tests.
        levels: minimum level per logger name (``{"bazaar.access": "warning"}``), over
            ``level`` and over the defaults below; a logger inherits its parent's.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redaction_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            # Drop below-level events first, before any processor spends time on them.
            structlog.stdlib.filter_by_level,
            *shared[:-2],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Stdlib records (kernel blocks log through ``logging``) keep their ``extra=``
        # fields as keys: ids belong in fields, where they are not mistaken for secrets.
        foreign_pre_chain=[*shared[:-2], structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.processors.format_exc_info,
            _redaction_processor,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bazaar", False):
            root.removeHandler(old)
    handler._bazaar = True  # type: ignore[attr-defined]  # marks our handler for re-configuration
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO; bazaar records its outbound calls as metrics instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # bazaar writes its own access log with the route template and request id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name, name_level in (levels or {}).items():
        logging.getLogger(name).setLevel(name_level.upper())
