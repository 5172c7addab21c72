"""Errors of the payments context.

BazaarError
└── PaymentsError
    ├── PaymentNotFoundError(payment_id)                  no such payment the caller may see
    ├── PaymentNotCapturableError(payment_id, status)     declined or voided: nothing to capture
    ├── PaymentNotVoidableError(payment_id, status)       captured: refund it instead
    ├── ProviderRefusalError(code)                        the PSP's 4xx answer (not a failure)
    │   ├── PaymentRejectedError(field, code)             it refused what was asked for
    │   ├── ProviderKeyReusedError(provider_key)          it knows the key with another body
    │   └── ProviderRuleError(code)                       its rules refuse it (404/409)
    ├── InvalidRefundError(field, message)                the refund does not fit the payment
    ├── RefundNotAllowedError(payment_id)                 the payment's state refuses it (stored)
    │   ├── PaymentNotRefundableError(payment_id, status) not captured (declined, authorized…)
    │   ├── RefundExceedsCapturedError(payment_id, ...)   more than what is left to refund
    │   └── RefundRefusedByProviderError(payment_id, code)
    └── PaymentOutcomeUnknownError(provider_key)          the PSP could not tell if it charged

KernelError → DependencyFailureError                      (bazaar.kernel.resilience)
└── PspUnavailableError(reason, retry_after_s)            raised by PSP adapters: 5xx, timeouts

``RefundNotAllowedError``s are the outcome of an operation that ran: the idempotency layer
stores them for replays. The other ``PaymentsError``s reject the request before any effect,
so its key is released and a corrected request may reuse it.
"""

from __future__ import annotations

from bazaar.kernel.errors import BazaarError
from bazaar.kernel.resilience import DependencyFailureError

__all__ = [
    "InvalidRefundError",
    "PaymentNotCapturableError",
    "PaymentNotFoundError",
    "PaymentNotRefundableError",
    "PaymentNotVoidableError",
    "PaymentOutcomeUnknownError",
    "PaymentRejectedError",
    "PaymentsError",
    "ProviderKeyReusedError",
    "ProviderRefusalError",
    "ProviderRuleError",
    "PspUnavailableError",
    "RefundExceedsCapturedError",
    "RefundNotAllowedError",
    "RefundRefusedByProviderError",
]


class PaymentsError(BazaarError):
    """Raised by the payments context on purpose."""


class PaymentNotFoundError(PaymentsError):
    """Unknown, or of another tenant, or of another customer: deliberately alike."""

    def __init__(self, payment_id: int) -> None:
        super().__init__(f"no payment {payment_id}")
        self.payment_id = payment_id


class PaymentNotCapturableError(PaymentsError):
    """Only an authorized payment can be captured; this one is ``status`` (declined, voided)."""

    def __init__(self, payment_id: int, status: str) -> None:
        super().__init__(f"payment {payment_id} is {status}: nothing to capture")
        self.payment_id = payment_id
        self.status = status


class PaymentNotVoidableError(PaymentsError):
    """The payment is captured (``status`` succeeded, or captured at the PSP): the money has
    moved, so a void cannot release it — refund it instead."""

    def __init__(self, payment_id: int, status: str) -> None:
        super().__init__(f"payment {payment_id} is {status}: refund it instead of voiding")
        self.payment_id = payment_id
        self.status = status


class ProviderRefusalError(PaymentsError):
    """The PSP answered with a refusal: its answer, not its failure (the breaker must not
    count it), raised by PSP adapters with the PSP's error ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PaymentRejectedError(ProviderRefusalError):
    """The PSP refused the request's content (an unknown card token, an amount it cannot take);
    ``field`` names the request field at fault."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(code, message)
        self.field = field


class ProviderKeyReusedError(ProviderRefusalError):
    """The PSP saw our derived key with another request (ours expired after 24 h, the PSP's
    did not): the caller reused an Idempotency-Key for a different request."""

    def __init__(self, provider_key: str) -> None:
        super().__init__("idempotency_key_reused", "the PSP knows this key with another request")
        self.provider_key = provider_key


class ProviderRuleError(ProviderRefusalError):
    """The PSP's card-processing rules refuse the operation (e.g. ``refund_exceeds_captured``)."""


class InvalidRefundError(PaymentsError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RefundNotAllowedError(PaymentsError):
    """The payment's state refuses this refund (409); the answer is stored for replays."""

    def __init__(self, payment_id: int, message: str) -> None:
        super().__init__(message)
        self.payment_id = payment_id
        self.message = message


class PaymentNotRefundableError(RefundNotAllowedError):
    def __init__(self, payment_id: int, status: str) -> None:
        super().__init__(payment_id, f"payment {payment_id} is {status}: nothing to refund")
        self.status = status


class RefundExceedsCapturedError(RefundNotAllowedError):
    def __init__(self, payment_id: int, requested: str, refundable: str) -> None:
        super().__init__(
            payment_id,
            f"a refund of {requested} exceeds the {refundable} left to refund on payment "
            f"{payment_id}",
        )
        self.requested = requested
        self.refundable = refundable


class RefundRefusedByProviderError(RefundNotAllowedError):
    def __init__(self, payment_id: int, code: str) -> None:
        super().__init__(payment_id, f"the PSP refused the refund of payment {payment_id}: {code}")
        self.code = code


class PaymentOutcomeUnknownError(PaymentsError):
    """The PSP did not answer and could not be asked afterwards whether the charge happened.

    Nothing is recorded and the caller's key is released: a retry with the same key sends
    the same PSP key, which the PSP de-duplicates, so it can never charge twice.
    """

    def __init__(self, provider_key: str, retry_after_s: float) -> None:
        super().__init__(f"outcome of PSP request {provider_key[:12]}… unknown")
        self.provider_key = provider_key
        self.retry_after_s = retry_after_s


class PspUnavailableError(DependencyFailureError):
    """The PSP failed to answer (5xx, a request in flight, a connection error, a timeout).

    A ``DependencyFailureError``: the guard retries it for retry-safe calls and the breaker
    counts it. ``retry_after_s`` comes from the PSP's ``Retry-After`` header when it sent one.
    """

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__("psp", reason, retry_after_s)
