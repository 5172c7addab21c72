"""Pure stampede arithmetic: XFetch's early-refresh decision and TTL jitter."""

from __future__ import annotations

import math
import random

__all__ = ["jittered_ttl", "should_refresh_early"]


def should_refresh_early(
    *, now: float, expires_at: float, delta_s: float, beta: float, rng: random.Random
) -> bool:
    """Whether to reload a still-fresh entry now (XFetch, probabilistic early expiration).

    Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic Cache Stampede Prevention"
    (VLDB 2015): refresh when ``now - delta * beta * ln(u) >= expires_at``, ``u`` uniform in
    (0, 1]. ``-ln(u)`` is exponential with mean 1, so each reader refreshes early with a
    probability that grows as expiry nears, and more eagerly for entries that take long to
    recompute (``delta``): one reader usually reloads before the key expires, so the crowd
    never finds it missing at once.

    Args:
        now: The current time, on the same clock as ``expires_at``.
        expires_at: When the entry stops being fresh.
        delta_s: How long the entry's last recomputation took.
        beta: Eagerness; 1.0 is the paper's optimum, above 1 refreshes earlier, 0 disables.
        rng: The source of ``u``; it is not drawn from when ``beta`` or ``delta_s`` is 0.

    Returns:
        True to refresh now. Always True once ``now >= expires_at``.
    """
    if now >= expires_at:
        return True
    if beta <= 0.0 or delta_s <= 0.0:
        return False
    # 1 - random() lies in (0, 1]: random() may return 0.0, whose log is -inf.
    return now - delta_s * beta * math.log(1.0 - rng.random()) >= expires_at


def jittered_ttl(ttl_s: float, jitter: float, rng: random.Random) -> float:
    """``ttl_s`` shortened by a random fraction of up to ``jitter``, never lengthened.

    Keys written together (a warm-up, a bulk import) would otherwise expire together and
    stampede the loader together; jitter spreads their expiries over ``jitter * ttl_s``.

    Args:
        ttl_s: The nominal TTL.
        jitter: The largest fraction taken off, in ``[0, 1)``.
        rng: The source of randomness; not drawn from when ``jitter`` is 0.

    Returns:
        A TTL in ``(ttl_s * (1 - jitter), ttl_s]``.

    Raises:
        ValueError: If ``jitter`` is outside ``[0, 1)``.
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter!r}")
    if jitter == 0.0:
        return ttl_s
    return ttl_s * (1.0 - jitter * rng.random())
