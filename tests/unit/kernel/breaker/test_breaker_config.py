"""Tests for the breaker's configuration, value types and error tree."""

from __future__ import annotations

import math

import pytest

from bazaar.kernel import breaker
from bazaar.kernel.breaker import (
    Admission,
    BreakerConfig,
    BreakerError,
    BreakerStoreError,
    CircuitOpenError,
    Permit,
)
from bazaar.kernel.errors import ConfigurationError, KernelError


class TestBreakerConfig:
    def test_defaults_are_those_of_the_capabilities(self) -> None:
        config = BreakerConfig()
        assert (config.failure_rate_threshold, config.minimum_calls, config.window_s) == (
            0.5,
            10,
            10.0,
        )
        assert (config.consecutive_failures, config.cooldown_s, config.half_open_probes) == (
            5,
            30.0,
            1,
        )
        assert config.slow_call_s is None
        assert config.bucket_s == 1.0

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("failure_rate_threshold", 0.0),
            ("failure_rate_threshold", 1.01),
            ("failure_rate_threshold", math.nan),
            ("failure_rate_threshold", True),
            ("minimum_calls", 0),
            ("minimum_calls", 2.5),
            ("window_s", 0.0),
            ("window_s", math.inf),
            ("consecutive_failures", 0),
            ("consecutive_failures", True),
            ("cooldown_s", 0.0),
            ("cooldown_s", -1.0),
            ("half_open_probes", 0),
            ("slow_call_s", 0.0),
            ("slow_call_s", math.nan),
            ("window_buckets", 0),
            ("window_buckets", 1001),
        ],
    )
    def test_an_unusable_value_is_refused_naming_its_field(self, field: str, value: object) -> None:
        with pytest.raises(ConfigurationError) as raised:
            BreakerConfig(**{field: value})  # type: ignore[arg-type]
        assert raised.value.key == field

    def test_whole_numbers_are_accepted_for_seconds_and_rates(self) -> None:
        config = BreakerConfig(failure_rate_threshold=1, window_s=5, cooldown_s=2, slow_call_s=1)
        assert config.bucket_s == 0.5

    def test_is_a_frozen_value(self) -> None:
        assert BreakerConfig(minimum_calls=3) == BreakerConfig(minimum_calls=3)
        with pytest.raises(AttributeError):
            BreakerConfig().minimum_calls = 3  # type: ignore[misc]


class TestErrors:
    def test_circuit_open_carries_the_name_and_the_cooldown_left(self) -> None:
        error = CircuitOpenError("psp", 12.5)
        assert (error.name, error.retry_after_s) == ("psp", 12.5)
        assert "psp" in str(error)
        assert isinstance(error, BreakerError)
        assert isinstance(error, KernelError)

    def test_store_error_carries_the_name_and_the_operation(self) -> None:
        error = BreakerStoreError("psp", "record")
        assert (error.name, error.operation) == ("psp", "record")
        assert isinstance(error, BreakerError)


class TestPublicSurface:
    def test_every_exported_name_exists(self) -> None:
        assert all(hasattr(breaker, name) for name in breaker.__all__)

    def test_permit_shows_its_decision(self) -> None:
        assert "REJECT" in repr(Permit(Admission.REJECT, 3, 1.5))
