"""The redacting JSON log pipeline: secrets never reach a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from bazaar.kernel.observability.context import request_id_var
from bazaar.kernel.observability.logging import REDACTED, configure_logging, redact

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    yield stream
    configure_logging("warning", stream=io.StringIO())


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


class TestRedact:
    @pytest.mark.parametrize(
        "key",
        ["password", "admin_password", "access_token", "refresh_token", "Authorization",
         "x-api-key", "jwt_secret", "card_number", "operator_key", "cookie"],
    )  # fmt: skip
    def test_masks_values_under_secret_names(self, key: str) -> None:
        assert redact({key: "value"}) == {key: REDACTED}

    @pytest.mark.parametrize(
        ("text", "secret"),
        [
            (f"token was {JWT}", JWT),
            ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
            ("key bz_live_ab12cd34_s3cr3tvalue given", "s3cr3tvalue"),
            ("refresh rt_" + "A" * 43 + " used", "A" * 43),
            ("paid with tok_visa_4242", "tok_visa_4242"),
            ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
            ("card 4111111111111111 declined", "4111111111111111"),
            ("postgresql://bazaar:hunter2@db:5432/x", "hunter2"),
        ],
    )
    def test_masks_secrets_inside_free_text(self, text: str, secret: str) -> None:
        assert secret not in redact(text)

    def test_keeps_ordinary_values(self) -> None:
        data = {"status": 200, "route": "/api/v1/me", "tenant_id": "123456"}
        assert redact(data) == data


class TestConfigureLogging:
    def test_writes_one_json_object_per_line_with_the_request_id(
        self, log_stream: io.StringIO
    ) -> None:
        token = request_id_var.set("req-42")
        try:
            structlog.get_logger("bazaar.test").info("hello", tenant_id="7")
        finally:
            request_id_var.reset(token)
        (line,) = lines(log_stream)
        assert line["event"] == "hello"
        assert line["request_id"] == "req-42"
        assert line["tenant_id"] == "7"
        assert line["level"] == "info"
        assert "timestamp" in line

    def test_redacts_structlog_and_stdlib_records(self, log_stream: io.StringIO) -> None:
        structlog.get_logger("bazaar.test").warning("login", password="hunter2hunter2")
        logging.getLogger("uvicorn.error").error("header Authorization: Bearer %s", JWT)
        text = log_stream.getvalue()
        assert "hunter2hunter2" not in text
        assert JWT not in text
        assert len(lines(log_stream)) == 2

    def test_redacts_exception_text(self, log_stream: io.StringIO) -> None:
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            structlog.get_logger("bazaar.test").exception("failed")
        text = log_stream.getvalue()
        assert JWT not in text
        assert "ValueError" in text


def test_span_ids_are_not_mistaken_for_card_numbers() -> None:
    # ``pan`` names a card number only as a word of the key, never inside ``span_id``.
    assert redact("00f067aa0ba902b7", "span_id") == "00f067aa0ba902b7"
    assert redact("4242424242424242", "card_pan") == REDACTED
    assert redact("4242424242424242", "pan") == REDACTED


def test_levels_per_logger_override_the_process_level() -> None:
    stream = io.StringIO()
    configure_logging(
        "info", stream=stream, levels={"bazaar.access": "warning", "bazaar.chatty": "debug"}
    )
    try:
        structlog.get_logger("bazaar.access").info("request", status=200)
        structlog.get_logger("bazaar.access").warning("slow request")
        structlog.get_logger("bazaar.chatty.part").debug("detail")  # inherits its parent's
        structlog.get_logger("bazaar.other").debug("dropped")
        structlog.get_logger("bazaar.other").info("kept")
        assert [line["event"] for line in lines(stream)] == ["slow request", "detail", "kept"]
    finally:
        for name in ("bazaar.access", "bazaar.chatty"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        configure_logging("warning", stream=io.StringIO())
