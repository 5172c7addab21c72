"""Load shedding at the edge (capabilities §3.4): over the in-flight bound → 503 at once."""

from __future__ import annotations

from collections.abc import Iterable

from bazaar.api.middleware._asgi import ASGIApp, Receive, Scope, Send, send_problem
from bazaar.kernel.shedding import AdmissionController, Priority

__all__ = ["DEFAULT_CRITICAL_PATHS", "LoadSheddingMiddleware"]

# Shed last: the orchestrator's probes (a shed probe gets a busy process killed or pulled
# from rotation, which moves its load onto the others) and the PSP's webhooks (a shed
# webhook is retried by the PSP later, adding load exactly when there is least room).
DEFAULT_CRITICAL_PATHS: tuple[tuple[str, str], ...] = (
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/webhooks/psp"),
)


class LoadSheddingMiddleware:
    """Admits each HTTP request through an ``AdmissionController`` or answers 503 at once.

    A shed request costs a dictionary lookup, two integer comparisons and one small
    response: the app, the body and the database are never touched, so the answer comes in
    microseconds and the excess cannot queue up behind admitted work. Every shed response
    is the ``overloaded`` problem with ``Retry-After`` (api.md "Conventions").

    The slot is released when the app returns, raises or is cancelled (client disconnect,
    deadline, shutdown), so the count cannot leak. Non-HTTP scopes (lifespan, websocket)
    pass through unbounded.
    """

    def __init__(
        self,
        app: ASGIApp,
        controller: AdmissionController,
        *,
        retry_after_s: int = 1,
        critical_paths: Iterable[tuple[str, str]] = DEFAULT_CRITICAL_PATHS,
    ) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            controller: The process's admission controller (one per worker process).
            retry_after_s: Whole seconds a shed client is told to wait.
            critical_paths: ``(method, path)`` pairs admitted as CRITICAL; exact matches.

        Raises:
            ValueError: If ``retry_after_s`` is negative.
        """
        if retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {retry_after_s}")
        self.app = app
        self.controller = controller
        self.retry_after_s = retry_after_s
        self._critical = frozenset((method.upper(), path) for method, path in critical_paths)
        self._retry_after = [(b"retry-after", str(retry_after_s).encode("ascii"))]
        self._detail = f"The server is at capacity; retry after {retry_after_s} s."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        priority = (
            Priority.CRITICAL
            if (scope["method"], scope["path"]) in self._critical
            else Priority.NORMAL
        )
        if not self.controller.try_admit(priority):
            await send_problem(
                send,
                503,
                "overloaded",
                detail=self._detail,
                instance=scope["path"],
                headers=list(self._retry_after),
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.controller.release()
