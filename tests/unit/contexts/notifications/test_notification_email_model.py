"""The e-mail value object, its deterministic Message-ID and the templates."""

from __future__ import annotations

import pytest

from bazaar.contexts.notifications import Email, InvalidEmailError, message_id_for
from bazaar.contexts.notifications.domain import (
    ORDER_CONFIRMED,
    PAYMENT_RECEIVED,
    order_confirmed,
    payment_received,
)
from bazaar.kernel.money import Money


def email(**overrides: object) -> Email:
    fields: dict[str, object] = {
        "to": "buyer@acme.test",
        "subject": "Payment received",
        "body_text": "hello",
        "message_id": "<1.payment_received@notifications.bazaar>",
    }
    return Email(**(fields | overrides))  # type: ignore[arg-type]


class TestMessageId:
    def test_is_derived_from_the_event_id_and_the_template(self) -> None:
        assert message_id_for("7001", PAYMENT_RECEIVED) == (
            "<7001.payment_received@notifications.bazaar>"
        )

    def test_the_same_event_always_gives_the_same_id(self) -> None:
        assert message_id_for("7001", PAYMENT_RECEIVED) == message_id_for("7001", PAYMENT_RECEIVED)

    def test_templates_of_one_event_get_distinct_ids(self) -> None:
        assert message_id_for("7001", PAYMENT_RECEIVED) != message_id_for("7001", ORDER_CONFIRMED)

    def test_an_event_id_unfit_for_a_message_id_is_hashed_deterministically(self) -> None:
        first = message_id_for("odd id <with> spaces", PAYMENT_RECEIVED)
        assert first == message_id_for("odd id <with> spaces", PAYMENT_RECEIVED)
        assert " " not in first
        assert first.startswith("<")
        assert first.endswith("@notifications.bazaar>")
        email(message_id=first)  # a valid Message-ID


class TestEmail:
    def test_keeps_its_fields_and_freezes_the_headers(self) -> None:
        built = email(headers={"X-Bazaar-Event-Id": "7001"})
        assert built.headers == {"X-Bazaar-Event-Id": "7001"}
        with pytest.raises(TypeError):
            built.headers["X-Other"] = "x"  # type: ignore[index]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("to", "not-an-address"),
            ("to", "a@b.test\r\nBcc: victim@evil.test"),
            ("subject", "Hi\nBcc: victim@evil.test"),
            ("message_id", "no-brackets@x"),
            ("headers", {"X-Ok": "line\r\nBcc: victim@evil.test"}),
            ("headers", {"Bad Name": "v"}),
            ("headers", {"Message-ID": "<other@x>"}),
        ],
    )
    def test_refuses_what_cannot_go_on_the_wire(self, field: str, value: object) -> None:
        with pytest.raises(InvalidEmailError):
            email(**{field: value})


class TestTemplates:
    def test_payment_received_shows_the_amount_and_the_payment(self) -> None:
        rendered = payment_received(payment_id=501, amount=Money.of("19.99", "EUR"))
        assert rendered.template == PAYMENT_RECEIVED
        assert rendered.subject == "Payment received"
        assert "19.99 EUR" in rendered.body_text
        assert "501" in rendered.body_text

    def test_order_confirmed_shows_the_order_and_its_total(self) -> None:
        rendered = order_confirmed(order_id="901", total=Money.of("42.5", "EUR"))
        assert rendered.template == ORDER_CONFIRMED
        assert rendered.subject == "Order confirmed"
        assert "901" in rendered.body_text
        assert "42.50 EUR" in rendered.body_text
