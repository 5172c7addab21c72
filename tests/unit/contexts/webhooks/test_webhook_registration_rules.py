"""Registration refuses unknown event types and unsafe URLs before opening any transaction."""

from __future__ import annotations

import pytest

from bazaar.contexts.webhooks import (
    InvalidEndpointError,
    RegisterEndpoint,
    UrlGuard,
    WebhookService,
    WebhooksUnitOfWork,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.ssrf import SsrfPolicy, StaticResolver

EVENTS = ("payments.payment_succeeded", "payments.refund_succeeded")


def no_unit_of_work() -> WebhooksUnitOfWork:
    raise AssertionError("a refused registration must not open a transaction")


@pytest.fixture
def service() -> WebhookService:
    clock = ManualClock()
    resolver = StaticResolver({"hooks.example": ["93.184.215.14"], "rebind.example": ["10.1.2.3"]})
    return WebhookService(
        unit_of_work=no_unit_of_work,
        reads=None,  # type: ignore[arg-type]  # never read here
        guard=UrlGuard(SsrfPolicy(), resolver),
        ids=SnowflakeGenerator(1, clock),
        clock=clock,
        event_types=EVENTS,
    )


async def refused(service: WebhookService, url: str, events: tuple[str, ...]) -> dict[str, str]:
    with pytest.raises(InvalidEndpointError) as caught:
        await service.register_endpoint(RegisterEndpoint(tenant_id=1, url=url, event_types=events))
    return {f.field: f.code for f in caught.value.fields}


class TestRegistrationRules:
    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("http://127.0.0.1/", "ssrf_private-address"),
            ("http://[::1]/", "ssrf_private-address"),
            ("http://169.254.169.254/latest/meta-data", "ssrf_private-address"),
            ("http://10.0.0.1/", "ssrf_private-address"),
            ("http://rebind.example/", "ssrf_private-address"),
            ("ftp://x/", "ssrf_scheme"),
            ("https://user:pw@hooks.example/", "ssrf_userinfo"),
            ("https://nowhere.example/", "ssrf_unresolvable"),
            ("http://2130706433/", "ssrf_private-address"),
        ],
    )
    async def test_unsafe_urls_are_refused_on_url(
        self, service: WebhookService, url: str, code: str
    ) -> None:
        assert await refused(service, url, EVENTS[:1]) == {"url": code}

    async def test_unknown_event_types_are_refused_on_events(self, service: WebhookService) -> None:
        fields = await refused(service, "https://hooks.example/", ("payments.nope",))
        assert fields == {"events": "unknown_event_type"}

    async def test_every_fault_is_reported_at_once(self, service: WebhookService) -> None:
        fields = await refused(service, "http://127.0.0.1/", ("orders.nope",))
        assert fields == {"events": "unknown_event_type", "url": "ssrf_private-address"}

    async def test_the_reason_is_said_without_the_resolved_address(
        self, service: WebhookService
    ) -> None:
        with pytest.raises(InvalidEndpointError) as caught:
            await service.register_endpoint(
                RegisterEndpoint(tenant_id=1, url="http://rebind.example/", event_types=EVENTS)
            )
        (field,) = caught.value.fields
        assert "private-address" in field.message
        assert "10.1.2.3" not in field.message
