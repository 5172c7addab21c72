"""The scenario runner: each scenario tells its story step by step and checks one invariant."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

__all__ = ["Scenario", "Story", "TourConfig", "TourFailedError", "bearer", "run_scenarios"]


class TourFailedError(Exception):
    """A scenario's check did not hold; the message says which."""


@dataclass(frozen=True, slots=True)
class TourConfig:
    base_url: str
    operator_key: str | None = None
    timeout_s: float = 10.0


@dataclass(slots=True)
class Story:
    """What a scenario prints: numbered steps, then checks that end it with ✓ or ✗."""

    console: Console
    client: httpx.AsyncClient
    config: TourConfig
    started: float = field(default_factory=time.perf_counter)
    steps: int = 0

    def step(self, text: str) -> None:
        self.steps += 1
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        self.console.print(
            f"  [dim]{elapsed_ms:7.1f} ms[/]  {self.steps:>2}. {text}", highlight=False
        )

    def check(self, condition: bool, text: str) -> None:
        """Assert an invariant of the scenario; a failure ends the scenario with ✗."""
        if not condition:
            raise TourFailedError(text)
        self.console.print(f"              [green]✓[/] {text}", highlight=False)

    def unique(self, prefix: str) -> str:
        """A name no earlier run used, so scenarios can run again and again."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    async def create_tenant(self, name: str | None = None) -> dict[str, Any]:
        """A fresh tenant with an admin; returns ``{id, name, admin_email, admin_password}``."""
        email = f"{self.unique('admin')}@tour.example"
        password = "tour-" + uuid.uuid4().hex
        headers = {"x-operator-key": self.config.operator_key} if self.config.operator_key else {}
        response = await self.client.post(
            "/api/v1/tenants",
            json={
                "name": name or self.unique("tour"),
                "admin_email": email,
                "admin_password": password,
            },
            headers=headers,
        )
        if response.status_code != 201:
            raise TourFailedError(
                f"could not create a tenant ({response.status_code}); run the system with "
                "--demo or pass --operator-key"
            )
        tenant: dict[str, Any] = response.json()
        return {**tenant, "admin_email": email, "admin_password": password}

    async def login(self, tenant_id: str, email: str, password: str) -> str:
        """An access token for the user."""
        response = await self.client.post(
            "/api/v1/auth/login",
            json={"tenant_id": tenant_id, "email": email, "password": password},
        )
        if response.status_code != 200:
            raise TourFailedError(f"login failed ({response.status_code})")
        return str(response.json()["access_token"])

    async def new_customer(self, tenant: dict[str, Any]) -> dict[str, str]:
        """A registered, signed-in customer of ``tenant``: ``{email, token}``."""
        email = f"{self.unique('customer')}@tour.example"
        password = "tour-" + uuid.uuid4().hex
        response = await self.client.post(
            "/api/v1/auth/register",
            json={"tenant_id": tenant["id"], "email": email, "password": password},
        )
        if response.status_code != 201:
            raise TourFailedError(f"could not register a customer ({response.status_code})")
        return {"email": email, "token": await self.login(tenant["id"], email, password)}

    async def admin_token(self, tenant: dict[str, Any]) -> str:
        return await self.login(tenant["id"], tenant["admin_email"], tenant["admin_password"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


ScenarioFn = Callable[[Story], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One pattern shown live: its name in concepts.md, the concept, the capability."""

    name: str
    concept: str
    capability: str
    run: ScenarioFn


async def run_scenarios(
    scenarios: Sequence[Scenario], config: TourConfig, console: Console
) -> dict[str, bool]:
    """Run each scenario in order, print its story, and return name → passed."""
    results: dict[str, bool] = {}
    # Idle connections are dropped after 2 s, before the server's keep-alive timeout (5 s,
    # uvicorn's default) closes them: with both at 5 s, a burst that reuses connections
    # idle since an earlier scenario can race the server's close and read a reset.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=config.base_url, timeout=config.timeout_s, limits=limits
    ) as client:
        for scenario in scenarios:
            console.rule(f"[bold]{scenario.name}[/] — {scenario.concept} ({scenario.capability})")
            story = Story(console=console, client=client, config=config)
            try:
                await scenario.run(story)
            except TourFailedError as exc:
                console.print(f"  [bold red]✗ {scenario.name}: {exc}[/]")
                results[scenario.name] = False
            except httpx.HTTPError as exc:
                console.print(
                    f"  [bold red]✗ {scenario.name}: cannot reach {config.base_url} "
                    f"({type(exc).__name__}); is `bazaar up` running?[/]"
                )
                results[scenario.name] = False
            else:
                elapsed = time.perf_counter() - story.started
                console.print(f"  [bold green]✓ {scenario.name}[/] [dim]({elapsed:.2f} s)[/]")
                results[scenario.name] = True
    passed = sum(results.values())
    console.rule(f"{passed}/{len(results)} scenarios held their invariant")
    return results
