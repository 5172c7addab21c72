"""``GuardedProvider``: the PSP through its dependency guard, never guessing an unknown outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bazaar.contexts.payments.application.ports import (
    AuthorizationLookup,
    AuthorizationRequest,
    PaymentProvider,
    ProviderAuthorization,
    ProviderKeyState,
    ProviderRefund,
    RefundLookup,
)
from bazaar.contexts.payments.domain.errors import PaymentOutcomeUnknownError, ProviderRefusalError
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyGuard, DependencyUnavailableError

__all__ = ["GuardedProvider"]

T = TypeVar("T")
L = TypeVar("L", AuthorizationLookup, RefundLookup)


@dataclass(frozen=True, slots=True)
class _Refused:
    error: ProviderRefusalError


@dataclass(frozen=True, slots=True)
class _Answered(Generic[T]):
    value: T


class _UnansweredError(Exception):
    """The guard gave up after at least one attempt left the process."""

    def __init__(self, failure: DependencyUnavailableError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class GuardedProvider:
    """Calls the PSP through the ``psp`` dependency guard (timeouts, retries, breaker, bulkhead).

    Every operation (authorize, capture, void, refund) goes the same way:

    * Every attempt of one operation carries the same idempotency key, so the guard may
      retry it (``retry_safe=True``) without risking a second charge.
    * A refusal (``ProviderRefusalError``) is the PSP's answer, not its failure: it crosses
      the guard as a value, so the breaker counts a success, and is raised afterwards.
    * When the guard gives up after an attempt was sent, a timeout may have cut off an
      answer: whether the PSP acted is unknown. One lookup of the key, through the guard,
      decides; if that fails too the outcome stays unknown (``PaymentOutcomeUnknownError``).
    * When no attempt was sent (breaker open, bulkhead full) the PSP is not called at all
      and ``DependencyUnavailableError`` is raised at once.
    """

    def __init__(self, provider: PaymentProvider, guard: DependencyGuard) -> None:
        self.provider = provider
        self.guard = guard

    async def authorize(
        self, request: AuthorizationRequest, provider_key: str
    ) -> ProviderAuthorization:
        """Authorize (and capture, when asked) once, whatever happens to the attempts.

        Raises:
            ProviderRefusalError: the PSP refused the request.
            DependencyUnavailableError: the PSP was not called, or certainly did nothing.
            PaymentOutcomeUnknownError: it may have acted; nobody can tell now.
        """

        async def attempt(timeout_s: float) -> ProviderAuthorization:
            return await self.provider.authorize(
                request, idempotency_key=provider_key, timeout_s=timeout_s
            )

        return await self._authorization_once(attempt, provider_key)

    async def capture(self, authorization_id: str, provider_key: str) -> ProviderAuthorization:
        """Capture an authorization once; raises as ``authorize`` does."""

        async def attempt(timeout_s: float) -> ProviderAuthorization:
            return await self.provider.capture(
                authorization_id, idempotency_key=provider_key, timeout_s=timeout_s
            )

        return await self._authorization_once(attempt, provider_key)

    async def void(self, authorization_id: str, provider_key: str) -> ProviderAuthorization:
        """Void an authorization once; raises as ``authorize`` does."""

        async def attempt(timeout_s: float) -> ProviderAuthorization:
            return await self.provider.void(
                authorization_id, idempotency_key=provider_key, timeout_s=timeout_s
            )

        return await self._authorization_once(attempt, provider_key)

    async def _authorization_once(
        self, attempt: Callable[[float], Awaitable[ProviderAuthorization]], provider_key: str
    ) -> ProviderAuthorization:
        async def lookup(timeout_s: float) -> AuthorizationLookup:
            return await self.provider.find_authorization(provider_key, timeout_s=timeout_s)

        try:
            return await self._call(attempt)
        except _UnansweredError as unanswered:
            failure = unanswered.failure
        found = await self._resolve(lookup, provider_key, failure)
        if found.authorization is None:
            raise PaymentOutcomeUnknownError(provider_key, failure.retry_after_s)
        return found.authorization

    async def refund(
        self, authorization_id: str, amount: Money, provider_key: str
    ) -> ProviderRefund:
        """Refund once; raises as ``authorize`` does."""

        async def attempt(timeout_s: float) -> ProviderRefund:
            return await self.provider.refund(
                authorization_id, amount, idempotency_key=provider_key, timeout_s=timeout_s
            )

        async def lookup(timeout_s: float) -> RefundLookup:
            return await self.provider.find_refund(provider_key, timeout_s=timeout_s)

        try:
            return await self._call(attempt)
        except _UnansweredError as unanswered:
            failure = unanswered.failure
        found = await self._resolve(lookup, provider_key, failure)
        if found.refund is None:
            raise PaymentOutcomeUnknownError(provider_key, failure.retry_after_s)
        return found.refund

    async def _call(self, fn: Callable[[float], Awaitable[T]]) -> T:
        attempts = 0

        async def attempt(timeout_s: float) -> _Answered[T] | _Refused:
            nonlocal attempts
            attempts += 1
            try:
                return _Answered(await fn(timeout_s))
            except ProviderRefusalError as exc:
                return _Refused(exc)

        try:
            result = await self.guard.call(attempt, retry_safe=True)
        except DependencyUnavailableError as exc:
            if attempts == 0:
                raise
            raise _UnansweredError(exc) from exc
        if isinstance(result, _Refused):
            raise result.error
        return result.value

    async def _resolve(
        self,
        lookup: Callable[[float], Awaitable[L]],
        provider_key: str,
        failure: DependencyUnavailableError,
    ) -> L:
        """Ask the PSP what became of ``provider_key``, once (a read: no retries needed).

        Raises:
            DependencyUnavailableError: ``failure``, when the PSP says nothing took effect.
            PaymentOutcomeUnknownError: the lookup failed, or the key is still in flight.
            ProviderRefusalError: the PSP refused the request it did receive.
        """
        try:
            found = await self.guard.call(lookup, retry_safe=False)
        except DependencyUnavailableError as exc:
            retry_after_s = max(failure.retry_after_s, exc.retry_after_s)
            raise PaymentOutcomeUnknownError(provider_key, retry_after_s) from exc
        if found.state is ProviderKeyState.UNUSED:
            raise failure
        if found.state is ProviderKeyState.IN_FLIGHT:
            raise PaymentOutcomeUnknownError(provider_key, failure.retry_after_s)
        if found.refusal is not None:
            raise found.refusal
        return found
