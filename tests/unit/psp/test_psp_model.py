"""The simulator's pure parts: amounts, card-processing rules, config checks, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar.kernel.errors import ConfigurationError
from bazaar.psp import CARD_RULES, PspConfig
from bazaar.psp.errors import (
    CaptureExceedsAuthorizedError,
    InvalidStateError,
    RefundExceedsCapturedError,
)
from bazaar.psp.faults import Faults
from bazaar.psp.idempotency import fingerprint
from bazaar.psp.model import (
    Authorization,
    AuthorizationStatus,
    capture_amount,
    format_amount,
    parse_amount,
    refund_amount,
    void_needed,
)


def auth(status: AuthorizationStatus, captured: int = 0, refunded: int = 0) -> Authorization:
    return Authorization(
        id="auth_1",
        status=status,
        amount_minor=1999,
        currency="EUR",
        card_token="tok_ok",
        reference=None,
        decline_code=None,
        captured_minor=captured,
        refunded_minor=refunded,
        created_at=0.0,
    )


class TestAmounts:
    @pytest.mark.parametrize(
        ("text", "minor"), [("19.99", 1999), ("19.9", 1990), ("19", 1900), ("0.01", 1)]
    )
    def test_decimal_strings_become_minor_units(self, text: str, minor: int) -> None:
        assert parse_amount(text) == minor

    @pytest.mark.parametrize(
        "text", ["", "0", "0.00", "-1.00", "1.999", "01.00", "1e3", " 1.00", "1,00", "١٢"]
    )
    def test_anything_else_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="must be"):
            parse_amount(text)

    def test_minor_units_format_with_two_decimals(self) -> None:
        assert [format_amount(m) for m in (1, 10, 1999, 100000)] == [
            "0.01",
            "0.10",
            "19.99",
            "1000.00",
        ]


class TestRules:
    def test_capture_takes_everything_by_default_or_a_part(self) -> None:
        assert capture_amount(auth(AuthorizationStatus.AUTHORIZED), None) == 1999
        assert capture_amount(auth(AuthorizationStatus.AUTHORIZED), 500) == 500

    def test_capture_cannot_exceed_the_authorized_amount(self) -> None:
        with pytest.raises(CaptureExceedsAuthorizedError):
            capture_amount(auth(AuthorizationStatus.AUTHORIZED), 2000)

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (AuthorizationStatus.CAPTURED, "already_captured"),
            (AuthorizationStatus.VOIDED, "invalid_state"),
            (AuthorizationStatus.DECLINED, "invalid_state"),
        ],
    )
    def test_only_an_authorized_authorization_captures(
        self, status: AuthorizationStatus, code: str
    ) -> None:
        with pytest.raises(InvalidStateError) as caught:
            capture_amount(auth(status, captured=1999 if status == "captured" else 0), None)
        assert caught.value.code == code

    def test_void_is_needed_once_and_refused_after_capture(self) -> None:
        assert void_needed(auth(AuthorizationStatus.AUTHORIZED)) is True
        assert void_needed(auth(AuthorizationStatus.VOIDED)) is False
        with pytest.raises(InvalidStateError) as caught:
            void_needed(auth(AuthorizationStatus.CAPTURED, captured=1999))
        assert caught.value.code == "already_captured"

    def test_refunds_are_bounded_by_what_is_left_of_the_capture(self) -> None:
        captured = auth(AuthorizationStatus.CAPTURED, captured=1000, refunded=400)
        assert refund_amount(captured, None) == 600
        assert refund_amount(captured, 600) == 600
        with pytest.raises(RefundExceedsCapturedError):
            refund_amount(captured, 601)
        with pytest.raises(RefundExceedsCapturedError):
            refund_amount(auth(AuthorizationStatus.CAPTURED, captured=1000, refunded=1000), None)

    def test_an_uncaptured_authorization_cannot_be_refunded(self) -> None:
        with pytest.raises(InvalidStateError):
            refund_amount(auth(AuthorizationStatus.AUTHORIZED), None)

    def test_the_documented_test_tokens_exist(self) -> None:
        assert set(CARD_RULES) == {
            "tok_ok",
            "tok_declined",
            "tok_insufficient",
            "tok_slow",
            "tok_flaky",
        }


class TestFingerprint:
    def test_key_order_does_not_matter(self) -> None:
        a = fingerprint("authorize", "/v1/authorizations", {"amount": 1, "currency": "EUR"})
        b = fingerprint("authorize", "/v1/authorizations", {"currency": "EUR", "amount": 1})
        assert a == b

    def test_parameters_operation_and_path_all_count(self) -> None:
        base = fingerprint("capture", "/v1/authorizations/a/capture", {"amount": 1})
        assert base != fingerprint("capture", "/v1/authorizations/a/capture", {"amount": 2})
        assert base != fingerprint("capture", "/v1/authorizations/b/capture", {"amount": 1})
        assert base != fingerprint("refund", "/v1/authorizations/a/capture", {"amount": 1})


class TestConfig:
    def test_in_data_dir_puts_the_database_file_there(self, tmp_path: Path) -> None:
        config = PspConfig.in_data_dir(tmp_path, api_key="k", webhook_secret="s")
        assert config.database_url.endswith(f"{tmp_path}/psp.db")
        assert config.slow_token_delay_s == 5.0
        assert config.flaky_error_rate == 0.5

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("api_key", ""),
            ("webhook_secret", ""),
            ("webhook_url", "ftp://example.test/hook"),
            ("webhook_timeout_s", 0.0),
            ("webhook_max_attempts", 0),
            ("flaky_error_rate", 1.5),
            ("slow_token_delay_s", -1.0),
            ("worker_id", 1024),
        ],
    )
    def test_invalid_values_name_the_field(self, field: str, value: object) -> None:
        fields: dict[str, object] = {"api_key": "k", "webhook_secret": "s", field: value}
        with pytest.raises(ConfigurationError) as caught:
            PspConfig("sqlite+aiosqlite:///x.db", **fields)  # type: ignore[arg-type]
        assert caught.value.key == field

    def test_an_in_memory_database_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="memory"):
            PspConfig("sqlite+aiosqlite:///:memory:", api_key="k", webhook_secret="s")

    def test_faults_are_range_checked(self) -> None:
        with pytest.raises(ValueError, match="error_rate"):
            Faults(error_rate=2.0)
        with pytest.raises(ValueError, match="latency_ms"):
            Faults(latency_ms=-1)
