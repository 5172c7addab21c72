"""Operator endpoints of the process: breakers, faults, admission, traces (§3.4, §4.3, §4.6, §10.1).

These act on the process, not on one tenant's data: a tenant admin (``ops:admin``), the
platform operator (``X-Operator-Key``) or, for faults, anyone in demo mode may use them.
``GET /mail`` lists what the demo mail sink received, under the same rules as faults.
Traces span tenants, so a tenant admin sees only its own tenant's (docs/observability.md).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from bazaar.api.problems import FieldError, ProblemError
from bazaar.api.ratelimits import LOGIN_POLICY, PLAN_POLICY_PREFIX, RateLimitPolicies
from bazaar.api.security import forbidden, optional_principal, unauthenticated
from bazaar.bootstrap import Container
from bazaar.contexts.identity import Permission, Principal
from bazaar.infra.mail import MailArchive
from bazaar.kernel.observability.tracing import TraceRecord, TraceStore
from bazaar.kernel.resilience import DependencyGuard, FaultSpec

__all__ = ["FAULT_DEPENDENCIES", "router"]

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

# The dependencies api.md names for fault injection; each answers 404 until it is wired.
FAULT_DEPENDENCIES = ("psp", "smtp", "db_read", "redis", "broker")
# How many recent traces a tenant admin's listing looks through for its own.
TRACE_SCAN_LIMIT = 2_000


class BreakerView(BaseModel):
    name: str
    state: str
    failure_rate: float
    calls: int
    opened_at: float | None
    consecutive_failures: int


class FaultUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0, ge=0, le=1)
    outage: bool = False


class AdmissionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_in_flight: int = Field(ge=1, le=100_000)


class AdmissionView(BaseModel):
    max_in_flight: int
    critical_limit: int
    in_flight: int
    admitted: int
    shed: int


class FaultView(BaseModel):
    dependency: str
    latency_ms: float
    error_rate: float
    outage: bool


class MailView(BaseModel):
    to: str
    subject: str
    message_id: str
    received_at: datetime
    headers: dict[str, str]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def ops_access(*, open_in_demo: bool) -> Callable[..., Awaitable[None]]:
    """A dependency admitting ``ops:admin`` callers, the operator key and maybe demo mode."""

    async def check(
        request: Request, principal: Principal | None = Depends(optional_principal)
    ) -> None:
        if not _operator_or_demo(request, open_in_demo=open_in_demo):
            _require_ops_admin(principal)

    return check


def _operator_or_demo(request: Request, *, open_in_demo: bool) -> bool:
    """Whether the platform operator calls (``X-Operator-Key``), or demo mode opens it."""
    settings = _container(request).settings
    if open_in_demo and settings.demo:
        return True
    offered = request.headers.get("x-operator-key")
    expected = settings.operator_key.get_secret_value() if settings.operator_key else None
    return bool(offered and expected and hmac.compare_digest(offered.encode(), expected.encode()))


def _require_ops_admin(principal: Principal | None) -> Principal:
    if principal is None:
        raise unauthenticated("Sign in as an admin or send X-Operator-Key.")
    if not principal.can(Permission.OPS_ADMIN):
        raise forbidden("Operating the platform needs the ops:admin permission.")
    return principal


async def trace_viewer(
    request: Request, principal: Principal | None = Depends(optional_principal)
) -> int | None:
    """Who may read traces: the tenant whose traces a tenant admin sees, or None for all.

    Traces are the process's, across tenants; the operator (and anyone in demo mode, for
    the console) sees them all, a tenant's admin only the traces of its own requests.
    """
    if _operator_or_demo(request, open_in_demo=True):
        return None
    return _require_ops_admin(principal).tenant_id


def _guard(container: Container, dependency: str) -> DependencyGuard:
    if dependency not in FAULT_DEPENDENCIES:
        raise ProblemError(
            404,
            "not-found",
            f"Unknown dependency {dependency!r}; known: {', '.join(FAULT_DEPENDENCIES)}.",
        )
    guard = container.dependencies.get(dependency)
    if guard is None:
        raise ProblemError(404, "not-found", f"{dependency!r} is not wired in this process yet.")
    return guard


def _fault_view(guard: DependencyGuard) -> FaultView:
    spec = guard.faults.spec
    return FaultView(
        dependency=guard.name,
        latency_ms=spec.latency_ms,
        error_rate=spec.error_rate,
        outage=spec.outage,
    )


@router.get(
    "/breakers",
    dependencies=[Depends(ops_access(open_in_demo=False))],
    summary="Circuit breakers of this process",
)
async def list_breakers(request: Request) -> list[BreakerView]:
    snapshots = await _container(request).breakers.snapshots()
    return [
        BreakerView(
            name=s.name,
            state=s.state.name.lower(),
            failure_rate=round(s.failure_rate, 4),
            calls=s.calls,
            opened_at=s.opened_at,
            consecutive_failures=s.consecutive_failures,
        )
        for s in snapshots
    ]


@router.get(
    "/faults",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="Faults injected into the dependencies",
)
async def list_faults(request: Request) -> list[FaultView]:
    return [_fault_view(guard) for guard in _container(request).dependencies]


@router.put(
    "/faults/{dependency}",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="Inject latency, errors or an outage into a dependency",
)
async def set_fault(dependency: str, update: FaultUpdate, request: Request) -> FaultView:
    guard = _guard(_container(request), dependency)
    guard.faults.set(
        FaultSpec(latency_ms=update.latency_ms, error_rate=update.error_rate, outage=update.outage)
    )
    return _fault_view(guard)


@router.delete(
    "/faults/{dependency}",
    status_code=204,
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="Clear the faults of a dependency",
)
async def clear_fault(dependency: str, request: Request) -> Response:
    _guard(_container(request), dependency).faults.clear()
    return Response(status_code=204)


def _admission_view(request: Request) -> AdmissionView:
    snapshot = request.app.state.admission.snapshot()
    return AdmissionView(
        max_in_flight=snapshot.max_in_flight,
        critical_limit=snapshot.critical_limit,
        in_flight=snapshot.in_flight,
        admitted=snapshot.admitted,
        shed=snapshot.shed,
    )


@router.get(
    "/admission",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="The load-shedding bound of this process and what it admitted and shed",
)
async def get_admission(request: Request) -> AdmissionView:
    return _admission_view(request)


@router.put(
    "/admission",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="Change the load-shedding bound of this process at run time",
)
async def set_admission(update: AdmissionUpdate, request: Request) -> AdmissionView:
    request.app.state.admission.resize(update.max_in_flight)
    return _admission_view(request)


@router.get(
    "/mail",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="E-mails received by the demo mail sink (oldest first)",
)
async def list_mail(request: Request, to: str | None = None) -> list[MailView]:
    """What the sink started by ``bazaar up`` stored under ``<data dir>/mail``; ``to`` filters."""
    archive = MailArchive(_container(request).settings.data_dir / "mail")
    # Reading and parsing the files is blocking I/O: off the event loop.
    mails = await asyncio.to_thread(archive.list, to)
    return [
        MailView(
            to=m.to,
            subject=m.subject,
            message_id=m.message_id,
            received_at=m.received_at,
            headers=dict(m.headers),
        )
        for m in mails
    ]


class RateLimitUsage(BaseModel):
    remaining: int
    limit: int
    reset_at: float
    limited: bool


class RateLimitPolicyView(BaseModel):
    name: str
    enabled: bool
    spec: str
    algorithm: str | None
    limit: int | None
    period_s: float | None
    failure_mode: str
    applies_to: str
    usage: RateLimitUsage | None


class RateLimitsView(BaseModel):
    subject: str
    shared: bool
    policies: list[RateLimitPolicyView]


@router.get(
    "/ratelimits",
    dependencies=[Depends(ops_access(open_in_demo=True))],
    summary="Rate-limit policies and one subject's standing under each (nothing is charged)",
)
async def get_ratelimits(
    request: Request,
    user_id: str | None = None,
    ip: str | None = None,
    principal: Principal | None = Depends(optional_principal),
) -> RateLimitsView:
    """The subject is ``user_id`` (of the caller's tenant), else ``ip``, else the caller."""
    policies: RateLimitPolicies = request.app.state.rate_limits
    if user_id is not None:
        if principal is None:
            raise ProblemError(
                422,
                "validation",
                "user_id needs a signed-in admin: users are looked up in the caller's tenant.",
                errors=[FieldError("query.user_id", "needs a signed-in admin")],
            )
        if not user_id.isascii() or not user_id.isdigit() or len(user_id) > 19:
            raise ProblemError(
                422,
                "validation",
                "user_id must be a decimal id.",
                errors=[FieldError("query.user_id", "must be a decimal id")],
            )
        subject = f"user:{principal.tenant_id}:{int(user_id)}"
    elif ip is not None:
        try:
            subject = f"ip:{ipaddress.ip_address(ip)}"
        except ValueError:
            raise ProblemError(
                422,
                "validation",
                "ip must be an IPv4 or IPv6 address.",
                errors=[FieldError("query.ip", "must be an IP address")],
            ) from None
    elif principal is not None:
        subject = f"user:{principal.tenant_id}:{principal.user_id}"
    else:
        subject = f"ip:{request.app.state.client_ip.resolve(request.scope)}"
    views: list[RateLimitPolicyView] = []
    for row in policies.describe():
        name = str(row["name"])
        usage: RateLimitUsage | None = None
        standing_of = _standing_subject(name, subject)
        if row["enabled"] and standing_of is not None:
            applied = await policies.peek(name, standing_of)
            if applied is not None:
                decision = applied.decision
                usage = RateLimitUsage(
                    remaining=decision.remaining,
                    limit=decision.limit,
                    reset_at=decision.reset_at,
                    limited=decision.remaining < 1,
                )
        views.append(RateLimitPolicyView.model_validate({**row, "usage": usage}))
    return RateLimitsView(subject=subject, shared=policies.shared, policies=views)


def _standing_subject(policy: str, subject: str) -> str | None:
    """Under which key ``subject`` is counted by ``policy``, if it is counted at all."""
    kind, _, rest = subject.partition(":")
    if policy.startswith(PLAN_POLICY_PREFIX):
        # Plans count the whole tenant; an address belongs to no tenant.
        return f"tenant:{rest.split(':', 1)[0]}" if kind == "user" else None
    if policy == LOGIN_POLICY:
        # Login counts accounts and addresses, never users: a user has no standing there.
        return subject if kind == "ip" else None
    return subject


class SpanView(BaseModel):
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start: datetime
    duration_ms: float
    attributes: dict[str, Any]
    status: str


class TraceView(BaseModel):
    trace_id: str
    spans: list[SpanView]


def _trace_view(record: TraceRecord) -> TraceView:
    return TraceView(
        trace_id=record.trace_id,
        spans=[
            SpanView(
                span_id=span.span_id,
                parent_id=span.parent_id,
                name=span.name,
                kind=span.kind,
                start=span.start,
                duration_ms=span.duration_ms,
                attributes=dict(span.attributes),
                status=span.status,
            )
            for span in record.spans
        ],
    )


def _visible_to(record: TraceRecord, tenant_id: int | None) -> bool:
    if tenant_id is None:
        return True
    tenant = str(tenant_id)
    return any(span.attributes.get("bazaar.tenant_id") == tenant for span in record.spans)


def _trace_store(request: Request) -> TraceStore | None:
    tracing = _container(request).tracing
    return None if tracing is None else tracing.store


@router.get(
    "/traces",
    summary="The most recently active traces kept in this process, newest first",
)
async def list_traces(
    request: Request,
    limit: int = Query(default=20, ge=1, le=500),
    viewer: int | None = Depends(trace_viewer),
) -> list[TraceView]:
    store = _trace_store(request)
    if store is None:
        return []
    # A tenant admin's filter may skip traces: look further back than ``limit``.
    records = store.recent(limit if viewer is None else TRACE_SCAN_LIMIT)
    return [_trace_view(r) for r in records if _visible_to(r, viewer)][:limit]


@router.get(
    "/traces/{trace_id}",
    summary="One trace kept in this process, its spans by start time",
)
async def get_trace(
    request: Request,
    trace_id: str = PathParam(pattern=r"^[0-9a-fA-F]{32}$"),
    viewer: int | None = Depends(trace_viewer),
) -> TraceView:
    store = _trace_store(request)
    record = None if store is None else store.get(trace_id)
    if record is None or not _visible_to(record, viewer):
        raise ProblemError(
            404, "not-found", f"No trace {trace_id} is kept in this process (it may have aged out)."
        )
    return _trace_view(record)
