"""Pure-ASGI middleware, one concern per module (BaseHTTPMiddleware costs a task per request)."""

from __future__ import annotations

from bazaar.api.middleware.body_limit import BodyLimitMiddleware
from bazaar.api.middleware.compression import CompressionMiddleware
from bazaar.api.middleware.content_type import ContentTypeMiddleware
from bazaar.api.middleware.cors import AllowListCorsMiddleware
from bazaar.api.middleware.deadline import DeadlineMiddleware
from bazaar.api.middleware.deprecation import Deprecation, DeprecationMiddleware
from bazaar.api.middleware.errors import UnhandledErrorMiddleware
from bazaar.api.middleware.ratelimit import RateLimitMiddleware
from bazaar.api.middleware.request_id import RequestIdMiddleware
from bazaar.api.middleware.security_headers import SecurityHeadersMiddleware
from bazaar.api.middleware.shedding import LoadSheddingMiddleware
from bazaar.api.middleware.telemetry import TelemetryMiddleware

__all__ = [
    "AllowListCorsMiddleware",
    "BodyLimitMiddleware",
    "CompressionMiddleware",
    "ContentTypeMiddleware",
    "DeadlineMiddleware",
    "Deprecation",
    "DeprecationMiddleware",
    "LoadSheddingMiddleware",
    "RateLimitMiddleware",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "TelemetryMiddleware",
    "UnhandledErrorMiddleware",
]
