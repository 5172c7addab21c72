"""``WebhookService``: what merchants do with their endpoints (register, list, enable, replay).

Registration validates everything before writing anything: the event types against the
ones bazaar can deliver, the URL through the SSRF guard (capabilities §13.3). A refused
registration stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from bazaar.contexts.webhooks.application.ports import IdGenerator, UrlGuard
from bazaar.contexts.webhooks.application.unit_of_work import (
    WebhooksReadModel,
    WebhooksUnitOfWork,
)
from bazaar.contexts.webhooks.domain.commands import RegisterEndpoint, ReplayDelivery
from bazaar.contexts.webhooks.domain.errors import (
    DeliveryNotFoundError,
    DeliveryNotReplayableError,
    EndpointDisabledError,
    EndpointNotFoundError,
    InvalidEndpointError,
    InvalidField,
)
from bazaar.contexts.webhooks.domain.model import (
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_secret,
)
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.ssrf import UnsafeReason, UnsafeUrlError

__all__ = ["WebhookService", "url_refusal_message"]

_REFUSALS: dict[UnsafeReason, str] = {
    UnsafeReason.MALFORMED: "is not a plain absolute http(s) URL",
    UnsafeReason.SCHEME: "must use http or https",
    UnsafeReason.USERINFO: "must not carry credentials (user:password@)",
    UnsafeReason.PORT: "names a port that is not allowed",
    UnsafeReason.UNRESOLVABLE: "has a host name that does not resolve",
    UnsafeReason.PRIVATE_ADDRESS: (
        "reaches a private, loopback, link-local or metadata address; "
        "webhooks go to public addresses only"
    ),
    UnsafeReason.UNPINNED: "left the checked origin",
}


def url_refusal_message(exc: UnsafeUrlError) -> str:
    """Why the SSRF guard refused a URL, for the merchant (never the resolved address)."""
    return f"refused by the SSRF guard ({exc.reason}): {_REFUSALS.get(exc.reason, 'unsafe')}"


class WebhookService:
    """Facade pattern over the webhooks context's merchant operations (tenant-scoped).

    Every lookup is by (tenant, id): another tenant's endpoint is as unknown as one that
    never existed.
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], WebhooksUnitOfWork],
        reads: WebhooksReadModel,
        guard: UrlGuard,
        ids: IdGenerator,
        clock: Clock,
        event_types: Iterable[str],
        secrets: Callable[[], str] = new_secret,
    ) -> None:
        """Args:
        unit_of_work: a fresh unit of work per write.
        reads: the read model.
        guard: the SSRF guard endpoints' URLs pass.
        ids: the process's Snowflake generator.
        clock: the time of records.
        event_types: the event types an endpoint may subscribe to.
        secrets: makes signing secrets (``whsec_`` + 256 random bits by default).
        """
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._guard = guard
        self._ids = ids
        self._clock = clock
        self.event_types = frozenset(event_types)
        self._secrets = secrets

    def _now(self) -> datetime:
        return utc_from_timestamp(self._clock.now())

    # --- commands ---

    async def register_endpoint(self, cmd: RegisterEndpoint) -> WebhookEndpoint:
        """Check and store a new endpoint; the result carries its secret (shown once).

        Raises:
            InvalidEndpointError: unknown event types, or the URL failed the SSRF guard.
        """
        problems: list[InvalidField] = []
        event_types = tuple(dict.fromkeys(cmd.event_types))
        unknown = [t for t in event_types if t not in self.event_types]
        if unknown:
            known = ", ".join(sorted(self.event_types)) or "none"
            problems.append(
                InvalidField(
                    "events",
                    f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {known}",
                    "unknown_event_type",
                )
            )
        url = cmd.url
        try:
            url = (await self._guard.check(cmd.url)).url
        except UnsafeUrlError as exc:
            problems.append(InvalidField("url", url_refusal_message(exc), f"ssrf_{exc.reason}"))
        if problems:
            raise InvalidEndpointError(problems)
        now = self._now()
        endpoint = WebhookEndpoint(
            id=self._ids.next_id(),
            tenant_id=cmd.tenant_id,
            url=url,
            event_types=event_types,
            secret=self._secrets(),
            status=EndpointStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        uow = self._unit_of_work()
        async with uow:
            await uow.endpoints.add(endpoint)
            await uow.commit()
        return endpoint

    async def delete_endpoint(self, tenant_id: int, endpoint_id: int) -> None:
        """Delete the endpoint, its deliveries and their attempts; nothing more is sent.

        Raises:
            EndpointNotFoundError: not the tenant's endpoint.
        """
        uow = self._unit_of_work()
        async with uow:
            if not await uow.endpoints.delete(tenant_id, endpoint_id):
                raise EndpointNotFoundError(endpoint_id)
            await uow.commit()

    async def enable_endpoint(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
        """Re-enable an endpoint (a no-op when active); its waiting deliveries resume.

        Raises:
            EndpointNotFoundError: not the tenant's endpoint.
        """
        uow = self._unit_of_work()
        async with uow:
            if not await uow.endpoints.enable(tenant_id, endpoint_id, self._now()):
                raise EndpointNotFoundError(endpoint_id)
            endpoint = await uow.endpoints.get(tenant_id, endpoint_id)
            await uow.commit()
        assert endpoint is not None  # enabled in this very transaction
        return endpoint

    async def purge_deliveries(self, older_than_s: float) -> int:
        """Forget final deliveries (succeeded, abandoned) older than ``older_than_s``.

        Run by a scheduled maintenance job; waiting deliveries are kept whatever their age.
        """
        before = self._now() - timedelta(seconds=older_than_s)
        uow = self._unit_of_work()
        async with uow:
            purged = await uow.deliveries.purge_final(before)
            await uow.commit()
        return purged

    async def replay_delivery(self, cmd: ReplayDelivery) -> WebhookDelivery:
        """Make a failed or abandoned delivery due now; the dispatcher attempts it next.

        A replay is one more attempt: a delivery whose schedule was over is abandoned again
        if it fails. It never re-enables the endpoint.

        Raises:
            EndpointNotFoundError: not the tenant's endpoint.
            DeliveryNotFoundError: not a delivery of that endpoint.
            DeliveryNotReplayableError: pending or succeeded.
            EndpointDisabledError: the endpoint is disabled (enable it first).
        """
        uow = self._unit_of_work()
        async with uow:
            endpoint = await uow.endpoints.get(cmd.tenant_id, cmd.endpoint_id)
            if endpoint is None:
                raise EndpointNotFoundError(cmd.endpoint_id)
            delivery = await uow.deliveries.get(cmd.tenant_id, cmd.delivery_id)
            if delivery is None or delivery.endpoint_id != endpoint.id:
                raise DeliveryNotFoundError(cmd.delivery_id)
            if not delivery.status.replayable:
                raise DeliveryNotReplayableError(delivery.id, delivery.status.value)
            if endpoint.status is EndpointStatus.DISABLED:
                raise EndpointDisabledError(endpoint.id)
            if not await uow.deliveries.replay(cmd.tenant_id, delivery.id, self._now()):
                # The dispatcher moved it in between (its retry succeeded).
                current = await uow.deliveries.get(cmd.tenant_id, delivery.id)
                status = current.status.value if current is not None else "gone"
                raise DeliveryNotReplayableError(delivery.id, status)
            await uow.commit()
        replayed = await self._reads.get_delivery(cmd.tenant_id, cmd.endpoint_id, cmd.delivery_id)
        if replayed is None:  # the endpoint was deleted right after
            raise DeliveryNotFoundError(cmd.delivery_id)
        return replayed

    # --- queries ---

    async def get_endpoint(self, tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
        """Raises: EndpointNotFoundError."""
        endpoint = await self._reads.get_endpoint(tenant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFoundError(endpoint_id)
        return endpoint

    async def list_endpoints(
        self, tenant_id: int, *, limit: int = 50, before_id: int | None = None
    ) -> list[WebhookEndpoint]:
        """The tenant's endpoints, newest first."""
        return await self._reads.list_endpoints(tenant_id, limit=limit, before_id=before_id)

    async def list_deliveries(
        self, tenant_id: int, endpoint_id: int, *, limit: int = 20, before_id: int | None = None
    ) -> list[WebhookDelivery]:
        """An endpoint's deliveries with their attempts, newest first.

        Raises:
            EndpointNotFoundError: not the tenant's endpoint.
        """
        await self.get_endpoint(tenant_id, endpoint_id)
        return await self._reads.list_deliveries(
            tenant_id, endpoint_id, limit=limit, before_id=before_id
        )
