"""Per-request context of the API edge (the variables live in the kernel, where logs read them)."""

from __future__ import annotations

from bazaar.kernel.observability.context import current_request_id, request_id_var

__all__ = ["current_request_id", "request_id_var"]
