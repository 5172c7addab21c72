"""``FakePaymentProvider``: an in-memory card processor for unit tests (shipped with the port).

It keeps the PSP's idempotency (one effect per key, replayed afterwards) and takes scripted
faults per operation: fail before the effect, or apply the effect and lose the answer (a
timeout after the PSP acted, the case that makes an outcome ambiguous).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bazaar.contexts.payments.application.ports import (
    AuthorizationLookup,
    AuthorizationRequest,
    ProviderAuthorization,
    ProviderAuthorizationStatus,
    ProviderKeyState,
    ProviderRefund,
    RefundLookup,
)
from bazaar.contexts.payments.domain.errors import (
    PaymentRejectedError,
    ProviderRefusalError,
    ProviderRuleError,
    PspUnavailableError,
)
from bazaar.kernel.money import Money

__all__ = ["Fail", "FakePaymentProvider", "InFlight", "LoseAnswer", "ProviderCall"]

_DECLINES = {"tok_declined": "card_declined", "tok_insufficient": "insufficient_funds"}
_CAPTURED_AT = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ProviderCall:
    operation: str  # authorize, capture, void, refund, find_authorization, find_refund
    idempotency_key: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise ``error`` before anything takes effect."""

    error: Exception = field(default_factory=lambda: PspUnavailableError("HTTP 503"))


@dataclass(frozen=True, slots=True)
class LoseAnswer:
    """Take effect, then fail as a timeout would: the caller cannot know it happened."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """(lookups) Answer that the key is still being processed."""


Fault = Fail | LoseAnswer | InFlight


class FakePaymentProvider:
    """A ``PaymentProvider`` in memory; inspect ``calls``, ``authorizations``, ``states``,
    ``actions``, ``refunds``.

    Cards: ``tok_ok`` approves (captured when asked), ``tok_declined``/``tok_insufficient``
    decline, anything else is refused like the simulator's ``unknown_card_token``. As the
    simulator does, each key keeps the answer it got first: ``authorizations`` the answer
    of each authorize key, ``actions`` that of each capture/void key (a refusal included),
    while ``states`` holds every authorization as it is now, by id.
    """

    def __init__(self) -> None:
        self.calls: list[ProviderCall] = []
        self.authorizations: dict[str, ProviderAuthorization] = {}
        self.states: dict[str, ProviderAuthorization] = {}
        self.actions: dict[str, ProviderAuthorization | ProviderRefusalError] = {}
        self.refunds: dict[str, ProviderRefund] = {}
        self.refunded: dict[str, Money] = {}
        self.closed = False
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)

    def script(self, operation: str, *faults: Fault) -> None:
        """Make the next calls of ``operation`` meet ``faults``, one each, in order."""
        self._faults[operation].extend(faults)

    def effects(self, operation: str) -> int:
        """How many calls of ``operation`` reached the fake (faults included)."""
        return sum(1 for call in self.calls if call.operation == operation)

    def _enter(self, operation: str, key: str, timeout_s: float) -> Fault | None:
        self.calls.append(ProviderCall(operation, key, timeout_s))
        queue = self._faults[operation]
        fault = queue.popleft() if queue else None
        if isinstance(fault, Fail):
            raise fault.error
        return fault

    async def authorize(
        self, request: AuthorizationRequest, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        fault = self._enter("authorize", idempotency_key, timeout_s)
        found = self.authorizations.get(idempotency_key)
        if found is None:
            found = self._new_authorization(request)
            self.authorizations[idempotency_key] = found
            self.states[found.id] = found
        if isinstance(fault, LoseAnswer):
            raise PspUnavailableError("timeout (answer lost)")
        return found

    def _new_authorization(self, request: AuthorizationRequest) -> ProviderAuthorization:
        decline = _DECLINES.get(request.card_token)
        if decline is None and request.card_token != "tok_ok":
            raise PaymentRejectedError("card_token", "unknown_card_token", "unknown card")
        if decline is not None:
            status = ProviderAuthorizationStatus.DECLINED
        elif request.capture:
            status = ProviderAuthorizationStatus.CAPTURED
        else:
            status = ProviderAuthorizationStatus.AUTHORIZED
        captured = status is ProviderAuthorizationStatus.CAPTURED
        return ProviderAuthorization(
            id=f"auth_{len(self.authorizations) + 1}",
            status=status,
            amount=request.amount,
            decline_code=decline,
            captured_at=_CAPTURED_AT if captured else None,
        )

    async def capture(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        return await self._act("capture", authorization_id, idempotency_key, timeout_s)

    async def void(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        return await self._act("void", authorization_id, idempotency_key, timeout_s)

    async def _act(
        self, operation: str, authorization_id: str, key: str, timeout_s: float
    ) -> ProviderAuthorization:
        fault = self._enter(operation, key, timeout_s)
        answer = self.actions.get(key)
        if answer is None:
            try:
                answer = self._transition(operation, authorization_id)
            except ProviderRefusalError as exc:
                answer = exc  # recorded like a success, as the simulator records rule errors
            self.actions[key] = answer
        if isinstance(fault, LoseAnswer):
            raise PspUnavailableError("timeout (answer lost)")
        if isinstance(answer, ProviderRefusalError):
            raise answer
        return answer

    def _transition(self, operation: str, authorization_id: str) -> ProviderAuthorization:
        auth = self.states.get(authorization_id)
        if auth is None:
            raise ProviderRuleError("authorization_not_found", f"no {authorization_id}")
        status = auth.status
        if operation == "void" and status is ProviderAuthorizationStatus.VOIDED:
            return auth
        if status is not ProviderAuthorizationStatus.AUTHORIZED:
            captured = status is ProviderAuthorizationStatus.CAPTURED
            code = "already_captured" if captured else "invalid_state"
            raise ProviderRuleError(code, f"cannot {operation} {authorization_id}: {status}")
        if operation == "capture":
            changed = replace(
                auth, status=ProviderAuthorizationStatus.CAPTURED, captured_at=_CAPTURED_AT
            )
        else:
            changed = replace(auth, status=ProviderAuthorizationStatus.VOIDED)
        self.states[authorization_id] = changed
        return changed

    async def refund(
        self, authorization_id: str, amount: Money, *, idempotency_key: str, timeout_s: float
    ) -> ProviderRefund:
        fault = self._enter("refund", idempotency_key, timeout_s)
        found = self.refunds.get(idempotency_key)
        if found is None:
            auth = self.states.get(authorization_id)
            if auth is None or auth.status is not ProviderAuthorizationStatus.CAPTURED:
                raise ProviderRuleError("invalid_state", f"{authorization_id} is not captured")
            total = self.refunded.get(authorization_id, Money.zero(amount.currency)) + amount
            if total > auth.amount:
                raise ProviderRuleError("refund_exceeds_captured", "too much")
            self.refunded[authorization_id] = total
            found = ProviderRefund(f"re_{len(self.refunds) + 1}", authorization_id, amount)
            self.refunds[idempotency_key] = found
        if isinstance(fault, LoseAnswer):
            raise PspUnavailableError("timeout (answer lost)")
        return found

    async def find_authorization(
        self, idempotency_key: str, *, timeout_s: float
    ) -> AuthorizationLookup:
        if isinstance(self._enter("find_authorization", idempotency_key, timeout_s), InFlight):
            return AuthorizationLookup(ProviderKeyState.IN_FLIGHT)
        found = self.authorizations.get(idempotency_key) or self.actions.get(idempotency_key)
        if found is None:
            return AuthorizationLookup(ProviderKeyState.UNUSED)
        if isinstance(found, ProviderRefusalError):
            return AuthorizationLookup(ProviderKeyState.COMPLETED, refusal=found)
        return AuthorizationLookup(ProviderKeyState.COMPLETED, authorization=found)

    async def find_refund(self, idempotency_key: str, *, timeout_s: float) -> RefundLookup:
        if isinstance(self._enter("find_refund", idempotency_key, timeout_s), InFlight):
            return RefundLookup(ProviderKeyState.IN_FLIGHT)
        found = self.refunds.get(idempotency_key)
        if found is None:
            return RefundLookup(ProviderKeyState.UNUSED)
        return RefundLookup(ProviderKeyState.COMPLETED, refund=found)

    async def aclose(self) -> None:
        self.closed = True
