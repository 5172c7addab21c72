"""Errors raised by the retry block itself (a failed call re-raises the call's own error).

    KernelError                     (bazaar.kernel.errors)
    └── RetryError
        └── RetryStateError         ``Retrying.next`` was called out of turn

Giving up is not an error of its own: ``retry_call`` re-raises the last attempt's exception
(with a note saying why it stopped), so callers translate dependency errors exactly as they
would without retries. When the request deadline is already spent before the first attempt,
it raises ``bazaar.kernel.deadline.DeadlineExceededError``. Invalid policies and budgets
raise ``bazaar.kernel.errors.ConfigurationError``.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["RetryError", "RetryStateError"]


class RetryError(KernelError):
    """The retry block was used in a way it does not support."""


class RetryStateError(RetryError):
    """``Retrying.next`` got an argument its current state does not accept.

    ``state`` is the state machine's state (a ``RetryState`` value) and ``expected`` says
    what it wanted instead.
    """

    def __init__(self, state: str, expected: str) -> None:
        super().__init__(f"retry state machine is {state}: expected {expected}")
        self.state = state
        self.expected = expected
