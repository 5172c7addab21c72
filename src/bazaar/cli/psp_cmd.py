"""``bazaar psp``: the PSP simulator served alone, as the external processor bazaar calls."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bazaar.cli.common import console, fail
from bazaar.kernel.errors import ConfigurationError

if TYPE_CHECKING:
    from bazaar.psp import PspConfig

__all__ = ["psp"]

_GRACE_S = 5.0


async def _serve(config: PspConfig, host: str, port: int, data_dir: Path) -> None:
    from bazaar.bootstrap import Lifecycle
    from bazaar.cli.serve import ServedApp, serve_until_signalled
    from bazaar.psp import create_psp_app

    app = create_psp_app(config)

    def announce() -> None:
        base = f"http://{host}:{port}"
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_row("API", f"{base}/v1  (Authorization: Bearer <api key>)")
        table.add_row("health", f"{base}/healthz")
        table.add_row("faults", f"{base}/v1/admin/faults")
        table.add_row("webhooks", config.webhook_url or "off (no --webhook-url)")
        table.add_row("data dir", str(data_dir.resolve()))
        console.print("[bold green]PSP simulator is up[/] (test credentials, not for real money)")
        console.print(table)
        console.print("Ctrl-C or SIGTERM stops it.")

    await serve_until_signalled(
        [ServedApp("psp", app, host, port)], Lifecycle(), grace_s=_GRACE_S, on_started=announce
    )
    console.print("PSP simulator stopped cleanly.")


def psp(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port of the simulator's API.")
    ] = 8090,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the simulator's SQLite file (psp.db) lives.")
    ] = Path(".bazaar/psp"),
    api_key: Annotated[
        str,
        typer.Option(
            "--api-key",
            help="Key callers send as 'Authorization: Bearer <key>'. The default is the "
            "test credential of a local simulator, not a production secret.",
        ),
    ] = "psp_test_key",
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            help="Where signed webhooks are POSTed, e.g. "
            "http://127.0.0.1:8000/api/v1/webhooks/psp. Without it none are sent.",
        ),
    ] = None,
    webhook_secret: Annotated[
        str,
        typer.Option(
            "--webhook-secret",
            help="HMAC key of the Psp-Signature header; bazaar must be given the same. The "
            "default is a test credential of a local simulator, not a production secret.",
        ),
    ] = "whsec_test",  # noqa: S107 - a simulator's documented test credential
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (loopback by default).")
    ] = "127.0.0.1",
) -> None:
    """Run the PSP simulator alone: a stand-in card processor with signed webhooks.

    Authorize, capture, void and refund over HTTP, with its own idempotency and fault control.

    Test cards: tok_ok, tok_declined, tok_insufficient, tok_slow (5 s), tok_flaky (50% 503).

    SIGTERM or Ctrl-C stops it with exit status 0.
    """
    from bazaar.kernel.observability.logging import configure_logging
    from bazaar.psp import PspConfig

    try:
        config = PspConfig.in_data_dir(
            data_dir, api_key=api_key, webhook_url=webhook_url, webhook_secret=webhook_secret
        )
    except ConfigurationError as exc:
        fail(f"--{exc.key.replace('_', '-')}: {exc.reason}")
    configure_logging("info", json=False)
    asyncio.run(_serve(config, host, port, data_dir))
