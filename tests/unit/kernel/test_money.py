"""Money: exact amounts per ISO 4217 currency at its minor unit, one currency at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.money import (
    CURRENCY_EXPONENTS,
    CurrencyMismatchError,
    InvalidAmountError,
    Money,
    UnknownCurrencyError,
    currency_exponent,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
# Amounts up to 10^15 major units with up to 6 decimals: beyond every exponent in the table.
decimals = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=6, allow_nan=False
)


@st.composite
def monies(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency or draw(currencies)
    units = draw(st.integers(min_value=-(10**15), max_value=10**15))
    return Money.from_minor(units, code)


class TestCurrencies:
    @pytest.mark.parametrize(
        ("code", "exponent"), [("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4)]
    )
    def test_exponents_follow_iso_4217(self, code: str, exponent: int) -> None:
        assert currency_exponent(code) == exponent

    @pytest.mark.parametrize("code", ["eur", "XXX", "EURO", "", "XAU"])
    def test_unknown_codes_are_refused(self, code: str) -> None:
        with pytest.raises(UnknownCurrencyError):
            Money(Decimal(1), code)


class TestConstruction:
    def test_amounts_are_quantized_to_the_minor_unit(self) -> None:
        assert Money.of("19.9", "EUR").to_json() == {"amount": "19.90", "currency": "EUR"}
        assert Money.of(1500, "JPY").to_json() == {"amount": "1500", "currency": "JPY"}
        assert Money.of("1.5", "KWD").to_json() == {"amount": "1.500", "currency": "KWD"}

    @pytest.mark.parametrize(
        ("amount", "currency"), [("0.005", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD")]
    )
    def test_amounts_finer_than_the_minor_unit_are_refused(
        self, amount: str, currency: str
    ) -> None:
        with pytest.raises(InvalidAmountError, match="decimal place"):
            Money.of(amount, currency)

    @pytest.mark.parametrize("amount", [1.5, "NaN", "Infinity", "abc", True])
    def test_floats_and_non_numbers_are_refused(self, amount: object) -> None:
        with pytest.raises(InvalidAmountError):
            Money.of(amount, "EUR")  # type: ignore[arg-type]  # the wrong types on purpose

    def test_rounding_is_explicit_and_half_to_even(self) -> None:
        assert Money.rounded(Decimal("0.005"), "EUR").amount == Decimal("0.00")
        assert Money.rounded(Decimal("0.015"), "EUR").amount == Decimal("0.02")
        assert Money.rounded(Decimal("2.5"), "JPY").amount == Decimal("2")

    def test_negative_zero_is_written_as_zero(self) -> None:
        assert Money.of("-0.00", "EUR").to_json()["amount"] == "0.00"

    def test_json_round_trip_never_uses_numbers(self) -> None:
        money = Money.of("19.99", "EUR")
        assert Money.from_json(money.to_json()) == money
        with pytest.raises(InvalidAmountError):
            Money.from_json({"amount": 19.99, "currency": "EUR"})

    def test_minor_units(self) -> None:
        assert Money.of("19.99", "EUR").minor_units == 1999
        assert Money.from_minor(1999, "EUR") == Money.of("19.99", "EUR")
        assert Money.from_minor(7, "JPY").amount == Decimal(7)


class TestProperties:
    @given(decimals, currencies)
    def test_rounding_is_idempotent_and_lands_on_the_minor_unit(
        self, amount: Decimal, currency: str
    ) -> None:
        once = Money.rounded(amount, currency)
        assert Money.rounded(once.amount, currency) == once
        assert once.amount.as_tuple().exponent == -currency_exponent(currency)
        assert abs(once.amount - amount) <= Decimal(1).scaleb(-currency_exponent(currency)) / 2

    @given(currencies.flatmap(lambda c: st.tuples(monies(c), monies(c))))
    def test_addition_and_subtraction_are_exact_inverses(self, pair: tuple[Money, Money]) -> None:
        a, b = pair
        assert (a + b) - b == a
        assert a + b == b + a
        assert (a + b).minor_units == a.minor_units + b.minor_units
        assert a - a == Money.zero(a.currency)

    @given(currencies.flatmap(lambda c: st.tuples(monies(c), monies(c))))
    def test_ordering_follows_the_amounts(self, pair: tuple[Money, Money]) -> None:
        a, b = pair
        assert (a < b) == (a.amount < b.amount)
        assert (a <= b) == (a.amount <= b.amount)
        assert (a > b) == (a.amount > b.amount)

    @given(monies(), monies())
    def test_two_currencies_never_mix(self, a: Money, b: Money) -> None:
        if a.currency == b.currency:
            return
        with pytest.raises(CurrencyMismatchError):
            _ = a + b
        with pytest.raises(CurrencyMismatchError):
            _ = a - b
        with pytest.raises(CurrencyMismatchError):
            _ = a < b
        assert a != b

    @given(monies())
    def test_json_round_trips(self, money: Money) -> None:
        assert Money.from_json(money.to_json()) == money
        assert isinstance(money.to_json()["amount"], str)

    def test_sums_beyond_34_digits_raise_instead_of_rounding(self) -> None:
        big = Money.of(Decimal("9" * 32), "EUR")
        with pytest.raises(InvalidAmountError):
            _ = big + big
