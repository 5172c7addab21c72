"""Fixtures of the PSP simulator's end-to-end tests: a manual clock, a seeded rng, the app."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.psp.testing import PspHarness, running_psp

SEED = 1234


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


@pytest.fixture
async def psp(tmp_path: Path, clock: ManualClock, rng: random.Random) -> AsyncIterator[PspHarness]:
    async with running_psp(tmp_path, clock=clock, rng=rng) as harness:
        yield harness
