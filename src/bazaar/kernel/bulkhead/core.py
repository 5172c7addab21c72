"""The bulkhead's admission rule, kept pure so it can be tested and reused on its own."""

from __future__ import annotations

import enum

__all__ = ["Admission", "admit"]


class Admission(enum.Enum):
    """What happens to a caller asking a bulkhead for a slot."""

    ENTER = "enter"  # a slot is free and nobody waits before this caller
    QUEUE = "queue"  # wait in line for a slot
    REJECT = "reject"  # the line is full: refuse now rather than pile up


def admit(in_use: int, queued: int, max_concurrent: int, max_queue: int) -> Admission:
    """Decide for one caller, given the bulkhead's counts.

    A free slot goes to a newcomer only when nobody is queued, so waiters are served first
    come, first served and a stream of newcomers cannot starve them.
    """
    if in_use < max_concurrent and queued == 0:
        return Admission.ENTER
    if queued < max_queue:
        return Admission.QUEUE
    return Admission.REJECT
