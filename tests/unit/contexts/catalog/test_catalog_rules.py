"""The catalog's value rules, search terms, cursors and entity tags (pure, no I/O)."""

from __future__ import annotations

import pytest

from bazaar.api.problems import ProblemError
from bazaar.contexts.catalog.api.etags import expected_versions, if_none_match_hits, product_etag
from bazaar.contexts.catalog.application.cursors import CursorCodec, query_fingerprint
from bazaar.contexts.catalog.domain import (
    UNSET,
    InvalidQueryError,
    ProductChanges,
    ProductStatus,
    model,
    search_terms,
)
from bazaar.kernel.money import Money

KEY = b"k" * 32


def fields(problems: list[model.InvalidField]) -> list[str]:
    return [p.field for p in problems]


class TestProductRules:
    @pytest.mark.parametrize("name", ["", "   ", "x" * 201, "tab\there", "nul\x00"])
    def test_refuses_names(self, name: str) -> None:
        assert fields(model.name_problems(name)) == ["name"]

    @pytest.mark.parametrize("name", ["Lamp", "x" * 200, "Crème brûlée", "日本茶"])
    def test_accepts_names(self, name: str) -> None:
        assert model.name_problems(name) == []

    def test_descriptions_may_span_lines_but_not_hold_nul(self) -> None:
        assert model.description_problems("two\nlines\tand tabs") == []
        assert model.description_problems(None) == []
        assert fields(model.description_problems("bad\x00")) == ["description"]
        assert fields(model.description_problems("y" * 5001)) == ["description"]

    @pytest.mark.parametrize("category", ["home", "home-garden", "4k-tv", "a"])
    def test_accepts_slug_categories(self, category: str) -> None:
        assert model.category_problems(category) == []

    @pytest.mark.parametrize(
        "category", ["", "Home", "home garden", "home--garden", "-home", "home-", "x" * 65, "a'b"]
    )
    def test_refuses_other_categories(self, category: str) -> None:
        assert fields(model.category_problems(category)) == ["category"]

    def test_prices_run_from_zero_to_the_maximum(self) -> None:
        assert model.price_problems(Money.of("0", "EUR")) == []
        assert model.price_problems(Money.of("1000000", "EUR")) == []
        assert fields(model.price_problems(Money.of("1000000.01", "EUR"))) == ["price.amount"]
        assert fields(model.price_problems(Money.of("-0.01", "EUR"))) == ["price.amount"]

    def test_price_micros_is_one_scale_for_every_currency(self) -> None:
        assert model.price_micros(Money.of("19.99", "EUR")) == 19_990_000
        assert model.price_micros(Money.of("1999", "JPY")) == 1_999_000_000
        assert model.price_micros(Money.of("1.234", "KWD")) == 1_234_000

    @pytest.mark.parametrize(
        "attributes",
        [
            {"k": float("nan")},
            {"k": float("inf")},
            {"": 1},
            {"k" * 65: 1},
            {f"k{n}": n for n in range(51)},
            {"a": {"b": {"c": {"d": {"e": 1}}}}},
            {"a": [[[[1]]]]},
            {"blob": "x" * 9000},
            {"k": object()},
        ],
    )
    def test_refuses_attributes(self, attributes: dict[str, object]) -> None:
        assert fields(model.attributes_problems(attributes)) == ["attributes"]

    def test_accepts_plain_json_attributes(self) -> None:
        attributes = {"size": "M", "tags": ["a", "b"], "dims": {"w": 1.5, "h": 2}, "ok": None}
        assert model.attributes_problems(attributes) == []
        assert fields(model.attributes_problems([1, 2])) == ["attributes"]

    def test_changes_report_only_the_fields_they_set(self) -> None:
        changes = ProductChanges(name="", category="Bad Category")
        assert fields(changes.problems()) == ["name", "category"]
        assert ProductChanges().is_empty()
        assert not ProductChanges(description=None).is_empty()
        assert ProductChanges(status=ProductStatus.DRAFT).name is UNSET

    @pytest.mark.parametrize(("rating", "ok"), [(0, False), (1, True), (5, True), (6, False)])
    def test_ratings_run_from_one_to_five(self, rating: int, ok: bool) -> None:
        assert (model.review_problems(rating, "") == []) is ok
        assert fields(model.review_problems(True, "")) == ["rating"]
        assert fields(model.review_problems(3, "z" * 2001)) == ["text"]


class TestSearchTerms:
    @pytest.mark.parametrize(
        ("text", "terms"),
        [
            ("Brass LAMP", ("brass", "lamp")),
            ("' OR 1=1 --", ("or", "1")),
            ('"; DROP TABLE products; --', ("drop", "table", "products")),
            ("NEAR(lamp chair", ("near", "lamp", "chair")),
            ("*", ()),
            ('"', ()),
            ("lamp_shade", ("lamp", "shade")),
            ("e-mail", ("e", "mail")),
            ("crème brûlée", ("crème", "brûlée")),
            ("a b c d e f g h i j", ("a", "b", "c", "d", "e", "f", "g", "h")),
        ],
    )
    def test_keeps_only_words(self, text: str, terms: tuple[str, ...]) -> None:
        assert search_terms(text) == terms

    def test_cuts_absurdly_long_words(self) -> None:
        assert search_terms("x" * 500) == ("x" * 64,)


class TestCursors:
    def test_round_trips_a_position_for_its_own_query(self) -> None:
        codec = CursorCodec(KEY)
        query = query_fingerprint("products", 1, "price")
        cursor = codec.encode(query, [1999, 42])
        assert codec.decode(cursor, query) == (1999, 42)
        assert codec.decode(codec.encode(query, ["Mug ☕", 7]), query) == ("Mug ☕", 7)

    def test_refuses_another_query_a_tampered_cursor_or_another_key(self) -> None:
        codec = CursorCodec(KEY)
        query = query_fingerprint("products", 1, "price")
        cursor = codec.encode(query, [1999, 42])
        payload, tag = cursor.split(".")
        for bad, fingerprint in [
            (cursor, query_fingerprint("products", 2, "price")),
            (payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + tag, query),
            (CursorCodec(b"z" * 32).encode(query, [1999, 42]), query),
            ("", query),
            ("....", query),
            ("%%%.%%%", query),
            ("x" * 2000, query),
        ]:
            with pytest.raises(InvalidQueryError) as refused:
                codec.decode(bad, fingerprint)
            assert refused.value.fields[0].field == "cursor"

    def test_needs_a_key_of_256_bits(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            CursorCodec(b"short")


class TestEntityTags:
    def test_tags_are_strong_and_name_id_and_version(self) -> None:
        assert product_etag(42, 3) == '"42-v3"'

    def test_if_none_match_compares_weakly(self) -> None:
        tag = product_etag(42, 3)
        assert if_none_match_hits(tag, tag)
        assert if_none_match_hits('W/"42-v3"', tag)
        assert if_none_match_hits('"x", "42-v3"', tag)
        assert if_none_match_hits("*", tag)
        assert not if_none_match_hits('"42-v2"', tag)
        assert not if_none_match_hits(None, tag)

    def test_if_match_names_versions_of_this_product_only(self) -> None:
        assert expected_versions('"42-v3"', 42) == frozenset({3})
        assert expected_versions('"42-v3", "42-v4"', 42) == frozenset({3, 4})
        assert expected_versions("*", 42) is None
        assert expected_versions('W/"42-v3"', 42) == frozenset()
        assert expected_versions('"41-v3"', 42) == frozenset()
        assert expected_versions("nonsense", 42) == frozenset()

    @pytest.mark.parametrize("header", [None, "", "   "])
    def test_if_match_is_required(self, header: str | None) -> None:
        with pytest.raises(ProblemError) as refused:
            expected_versions(header, 42)
        assert (refused.value.status, refused.value.slug) == (428, "precondition-required")
