"""Errors raised when a request's time budget is spent.

    KernelError                     (bazaar.kernel.errors)
    └── DeadlineError
        └── DeadlineExceededError   nothing of the budget remains for the next piece of work

Errors carry fields, not only messages, so callers never parse strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = ["DeadlineError", "DeadlineExceededError"]


class DeadlineError(KernelError):
    """A deadline could not be honoured."""


class DeadlineExceededError(DeadlineError):
    """The deadline in scope has passed; starting more work would only waste it.

    ``overdue_s`` is how far past the deadline the clock was when this was raised (0.0 when
    it was raised exactly on time).
    """

    def __init__(self, overdue_s: float) -> None:
        super().__init__(f"the deadline passed {overdue_s:.3f} s ago")
        self.overdue_s = overdue_s
