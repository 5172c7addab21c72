"""Operator endpoints of the process: breakers, faults, admission (capabilities §3.4, §4.3, §4.6).

These act on the process, not on one tenant's data: a tenant admin (``ops:admin``), the
platform operator (``X-Operator-Key``) or, for faults, anyone in demo mode may use them.
``GET /mail`` lists what the demo mail sink received, under the same rules as faults.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bazaar.api.problems import ProblemError
from bazaar.api.security import forbidden, optional_principal, unauthenticated
from bazaar.bootstrap import Container
from bazaar.contexts.identity import Permission, Principal
from bazaar.infra.mail import MailArchive
from bazaar.kernel.resilience import DependencyGuard, FaultSpec

__all__ = ["FAULT_DEPENDENCIES", "router"]

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

# The dependencies api.md names for fault injection; each answers 404 until it is wired.
FAULT_DEPENDENCIES = ("psp", "smtp", "db_read", "redis", "broker")


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
        settings = _container(request).settings
        if open_in_demo and settings.demo:
            return
        offered = request.headers.get("x-operator-key")
        expected = settings.operator_key.get_secret_value() if settings.operator_key else None
        if offered and expected and hmac.compare_digest(offered.encode(), expected.encode()):
            return
        if principal is None:
            raise unauthenticated("Sign in as an admin or send X-Operator-Key.")
        if not principal.can(Permission.OPS_ADMIN):
            raise forbidden("Operating the platform needs the ops:admin permission.")

    return check


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
