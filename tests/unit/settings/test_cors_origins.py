"""``BAZAAR_CORS_ORIGINS``: exact origins, as browsers send them, or a refusal naming the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bazaar.settings import Settings


class TestCorsOrigins:
    def test_empty_by_default(self) -> None:
        assert Settings().cors_origins == []

    def test_reads_a_comma_separated_list_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "BAZAAR_CORS_ORIGINS", "https://Shop.Example, http://localhost:5173,http://[::1]:8080"
        )
        assert Settings().cors_origins == [
            "https://shop.example",
            "http://localhost:5173",
            "http://[::1]:8080",
        ]

    @pytest.mark.parametrize(
        "origin",
        [
            "https://shop.example/",
            "https://shop.example/app",
            "shop.example",
            "*",
            "null",
            "https://*.shop.example",
            "ftp://shop.example",
            "https://shop.example:port",
        ],
    )
    def test_refuses_what_no_browser_sends_as_an_origin(self, origin: str) -> None:
        with pytest.raises(ValidationError, match="BAZAAR_CORS_ORIGINS"):
            Settings(cors_origins=origin)
