"""Request-scoped context variables that logs and spans read (set by the API edge)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["current_request_id", "current_tenant_id", "request_id_var", "tenant_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("bazaar_request_id", default=None)
# The tenant of the authenticated caller, once the request is authenticated.
tenant_id_var: ContextVar[int | None] = ContextVar("bazaar_tenant_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id_var.get()


def current_tenant_id() -> int | None:
    """The authenticated caller's tenant, if the request being served has one."""
    return tenant_id_var.get()
