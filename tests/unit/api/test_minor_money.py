"""Money in integer minor units, the v2 wire format (``MinorMoneyIn``, ``MinorMoneyPublic``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bazaar.api.money import MinorMoneyIn, MinorMoneyPublic, MoneyPublic
from bazaar.contexts.catalog.api.schemas import MinorMoneyIn as CatalogMinorMoneyIn
from bazaar.contexts.catalog.domain.model import MAX_PRICE
from bazaar.kernel.money import CURRENCY_EXPONENTS, Money

# Every catalog price: a currency, and minor units from 0 to MAX_PRICE in that currency.
prices = st.sampled_from(sorted(CURRENCY_EXPONENTS)).flatmap(
    lambda currency: st.tuples(
        st.just(currency),
        st.integers(0, int(MAX_PRICE.scaleb(CURRENCY_EXPONENTS[currency]))),
    )
)


def errors(data: dict[str, Any], model: type[MinorMoneyIn] = MinorMoneyIn) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [".".join(map(str, e["loc"])) for e in caught.value.errors()]


class TestMinorMoneyPublic:
    @pytest.mark.parametrize(
        ("amount", "currency", "minor", "exponent"),
        [
            ("19.99", "EUR", 1999, 2),
            ("0.10", "EUR", 10, 2),
            ("500", "JPY", 500, 0),
            ("1.234", "KWD", 1234, 3),
            ("0.0001", "CLF", 1, 4),
        ],
    )
    def test_writes_the_amount_in_the_currencys_minor_unit(
        self, amount: str, currency: str, minor: int, exponent: int
    ) -> None:
        public = MinorMoneyPublic.of(Money.of(amount, currency))
        assert public.model_dump() == {
            "amount_minor": minor,
            "currency": currency,
            "exponent": exponent,
        }

    @given(prices)
    def test_says_the_same_amount_as_v1(self, price: tuple[str, int]) -> None:
        currency, minor = price
        money = Money.from_minor(minor, currency)
        v1 = MoneyPublic.of(money)
        v2 = MinorMoneyPublic.of(money)
        assert Decimal(v1.amount).scaleb(v2.exponent) == v2.amount_minor
        assert v1.currency == v2.currency
        assert CatalogMinorMoneyIn(amount_minor=minor, currency=currency).money() == money


class TestMinorMoneyIn:
    def test_reads_minor_units(self) -> None:
        money = MinorMoneyIn.model_validate({"amount_minor": 1999, "currency": "EUR"}).money()
        assert money == Money.of("19.99", "EUR")

    def test_accepts_the_right_exponent_as_a_check(self) -> None:
        data = {"amount_minor": 1999, "currency": "JPY", "exponent": 0}
        assert MinorMoneyIn.model_validate(data).money() == Money.of("1999", "JPY")

    def test_refuses_an_exponent_that_is_not_the_currencys(self) -> None:
        # A client that believes ISK has 2 decimals would otherwise charge 100 times over.
        assert errors({"amount_minor": 1999, "currency": "ISK", "exponent": 2}) == ["exponent"]

    @pytest.mark.parametrize("amount", ["1999", 19.99, 1999.0, True, None, [1999]])
    def test_the_amount_is_a_json_integer_and_nothing_else(self, amount: object) -> None:
        assert errors({"amount_minor": amount, "currency": "EUR"}) == ["amount_minor"]

    def test_refuses_zero_and_negative_amounts_by_default(self) -> None:
        assert errors({"amount_minor": 0, "currency": "EUR"}) == ["amount_minor"]
        assert errors({"amount_minor": -1, "currency": "EUR"}) == ["amount_minor"]

    def test_an_unknown_currency_is_one_error_on_the_currency(self) -> None:
        assert errors({"amount_minor": 100, "currency": "XYZ", "exponent": 9}) == ["currency"]
        assert errors({"amount_minor": 100, "currency": "eur"}) == ["currency"]

    def test_refuses_unknown_fields_such_as_v1s_amount(self) -> None:
        data = {"amount_minor": 100, "currency": "EUR", "amount": "1.00"}
        assert errors(data) == ["amount"]


class TestCatalogPrices:
    def test_a_price_may_be_zero(self) -> None:
        price = CatalogMinorMoneyIn(amount_minor=0, currency="EUR")
        assert price.money() == Money.zero("EUR")

    @pytest.mark.parametrize(
        ("currency", "largest"), [("EUR", 100_000_000), ("JPY", 1_000_000), ("KWD", 10**9)]
    )
    def test_the_maximum_is_max_price_in_each_currencys_minor_unit(
        self, currency: str, largest: int
    ) -> None:
        assert CatalogMinorMoneyIn(amount_minor=largest, currency=currency).amount_minor == largest
        data = {"amount_minor": largest + 1, "currency": currency}
        assert errors(data, CatalogMinorMoneyIn) == ["amount_minor"]
