"""RateLimit specs (parse, str, policy item), their validation, and Decision."""

from __future__ import annotations

import dataclasses

import pytest

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ratelimit import (
    MAX_LIMIT,
    Algorithm,
    Decision,
    RateLimit,
    RateLimitError,
    RateLimitSpecError,
)
from bazaar.kernel.ratelimit.policy import make_decision

ALGORITHM_NAMES = [algorithm.value for algorithm in Algorithm]


class TestParse:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("token_bucket:100/3600", RateLimit(Algorithm.TOKEN_BUCKET, 100, 3600.0)),
            ("fixed_window:5/0.5", RateLimit(Algorithm.FIXED_WINDOW, 5, 0.5)),
            ("sliding_log:1/1", RateLimit(Algorithm.SLIDING_LOG, 1, 1.0)),
            ("sliding_window:10/60.0", RateLimit(Algorithm.SLIDING_WINDOW, 10, 60.0)),
            ("leaky_bucket:3/.25", RateLimit(Algorithm.LEAKY_BUCKET, 3, 0.25)),
            ("  token_bucket : 7 / 90  ", RateLimit(Algorithm.TOKEN_BUCKET, 7, 90.0)),
        ],
    )
    def test_reads_algorithm_limit_and_seconds(self, text: str, expected: RateLimit) -> None:
        assert RateLimit.parse(text) == expected

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", "expected '<algorithm>:<limit>/<seconds>'"),
            ("token_bucket", "expected '<algorithm>:<limit>/<seconds>'"),
            ("token_bucket:100", "expected '<algorithm>:<limit>/<seconds>'"),
            ("100/3600", "expected '<algorithm>:<limit>/<seconds>'"),
            ("tokenbucket:100/3600", "unknown algorithm 'tokenbucket'"),
            ("TOKEN_BUCKET:100/3600", "unknown algorithm 'TOKEN_BUCKET'"),
            (":100/3600", "unknown algorithm ''"),
        ],
    )
    def test_a_malformed_spec_or_unknown_algorithm_names_the_valid_algorithms(
        self, text: str, problem: str
    ) -> None:
        with pytest.raises(RateLimitSpecError) as raised:
            RateLimit.parse(text)
        message = str(raised.value)
        assert problem in message
        assert all(name in message for name in ALGORITHM_NAMES)
        assert raised.value.text == text

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("token_bucket:0/60", f"between 1 and {MAX_LIMIT:,}"),
            ("token_bucket:-1/60", "the limit must be a whole number, got '-1'"),
            ("token_bucket:1.5/60", "the limit must be a whole number, got '1.5'"),
            ("token_bucket:ten/60", "the limit must be a whole number, got 'ten'"),
            (f"token_bucket:{MAX_LIMIT + 1}/60", f"between 1 and {MAX_LIMIT:,}"),
            ("token_bucket:10/0", "the seconds must be > 0, got '0'"),
            ("token_bucket:10/0.0", "the seconds must be > 0, got '0.0'"),
            ("token_bucket:10/-5", "plain number such as 60 or 0.5, got '-5'"),
            ("token_bucket:10/1e3", "plain number such as 60 or 0.5, got '1e3'"),
            ("token_bucket:10/inf", "got 'inf'"),
            ("token_bucket:10/nan", "got 'nan'"),
            ("token_bucket:10/", "got ''"),
            ("token_bucket:10/60/60", "got '60/60'"),
        ],
    )
    def test_a_bad_limit_or_period_says_which_and_why(self, text: str, problem: str) -> None:
        with pytest.raises(RateLimitSpecError) as raised:
            RateLimit.parse(text)
        assert problem in str(raised.value)
        assert text in str(raised.value)

    def test_a_spec_error_is_a_configuration_error_and_a_rate_limit_error(self) -> None:
        with pytest.raises(RateLimitSpecError) as raised:
            RateLimit.parse("bogus:1/1")
        error = raised.value
        assert isinstance(error, ConfigurationError)
        assert isinstance(error, RateLimitError)
        assert error.key == "rate_limit"
        assert error.reason.startswith("unknown algorithm 'bogus'")


class TestRateLimit:
    @pytest.mark.parametrize(
        "text",
        [
            "token_bucket:100/3600",
            "fixed_window:5/0.5",
            "leaky_bucket:3/0.3",
            "sliding_log:1/1",
            "sliding_window:2/0.00001",
        ],
    )
    def test_str_gives_back_the_spec(self, text: str) -> None:
        assert str(RateLimit.parse(text)) == text
        assert RateLimit.parse(str(RateLimit.parse(text))) == RateLimit.parse(text)

    def test_str_shows_a_whole_period_without_decimals(self) -> None:
        assert str(RateLimit(Algorithm.SLIDING_WINDOW, 10, 60.0)) == "sliding_window:10/60"

    @pytest.mark.parametrize(
        ("text", "policy"),
        [
            ("fixed_window:10/60", "10;w=60"),
            ("token_bucket:100/3600", "100;w=3600"),
            ("sliding_log:5/0.5", "5;w=1"),
            ("leaky_bucket:5/90.5", "5;w=91"),
        ],
    )
    def test_the_policy_item_has_the_window_in_whole_seconds_rounded_up(
        self, text: str, policy: str
    ) -> None:
        assert RateLimit.parse(text).policy == policy

    def test_equal_limits_are_one_dict_key_whatever_their_period_type(self) -> None:
        as_int = RateLimit(Algorithm.TOKEN_BUCKET, 10, 60)
        as_float = RateLimit.parse("token_bucket:10/60.0")
        assert as_int == as_float
        assert {as_int: "state"}[as_float] == "state"
        assert isinstance(as_int.period_s, float)
        assert as_int.rate_per_s == pytest.approx(1 / 6)

    def test_different_algorithms_are_different_limits(self) -> None:
        assert RateLimit(Algorithm.TOKEN_BUCKET, 10, 60) != RateLimit(
            Algorithm.LEAKY_BUCKET, 10, 60
        )

    @pytest.mark.parametrize(
        ("algorithm", "limit", "period", "problem"),
        [
            ("token_bucket", 10, 60.0, "unknown algorithm"),
            (Algorithm.TOKEN_BUCKET, 0, 60.0, "between 1"),
            (Algorithm.TOKEN_BUCKET, True, 60.0, "must be an integer"),
            (Algorithm.TOKEN_BUCKET, 2.0, 60.0, "must be an integer"),
            (Algorithm.TOKEN_BUCKET, 10, 0.0, "finite number of seconds > 0"),
            (Algorithm.TOKEN_BUCKET, 10, float("inf"), "finite number of seconds > 0"),
            (Algorithm.TOKEN_BUCKET, 10, float("nan"), "finite number of seconds > 0"),
            (Algorithm.TOKEN_BUCKET, 10, "60", "number of seconds"),
        ],
    )
    def test_building_one_directly_is_validated_too(
        self, algorithm: object, limit: object, period: object, problem: str
    ) -> None:
        with pytest.raises(RateLimitSpecError, match=problem):
            RateLimit(algorithm, limit, period)  # type: ignore[arg-type]

    def test_it_is_frozen(self) -> None:
        limit = RateLimit.parse("token_bucket:1/1")
        with pytest.raises(dataclasses.FrozenInstanceError):
            limit.limit = 2  # type: ignore[misc]


class TestDecision:
    def test_the_fast_constructor_builds_an_equal_frozen_decision(self) -> None:
        fast = make_decision(False, 10, 0, 1_060.0, 2.5, 0.0)
        assert fast == Decision(False, 10, 0, 1_060.0, 2.5)
        assert hash(fast) == hash(Decision(False, 10, 0, 1_060.0, 2.5, 0.0))
        assert repr(fast) == repr(Decision(False, 10, 0, 1_060.0, 2.5))
        assert type(fast) is Decision
        assert (fast.retry_after_s, fast.delay_s, fast.store_failed) == (2.5, 0.0, False)
        with pytest.raises(AttributeError):
            fast.allowed = True  # type: ignore[misc]
