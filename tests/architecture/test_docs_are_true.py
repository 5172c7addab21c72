"""README and docs/settings.md name every setting and every CLI command that exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from bazaar.cli import app
from bazaar.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")


def setting_variables() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(f"BAZAAR_{name.upper()}__{sub.upper()}" for sub in annotation.model_fields)
        else:
            names.append(f"BAZAAR_{name.upper()}")
    return names


def mentioned(variable: str, text: str) -> bool:
    # Tables may abbreviate a section's siblings: `BAZAAR_BREAKER__FAILURE_RATE` / `__MIN_CALLS`.
    if variable in text:
        return True
    prefix, sep, leaf = variable.rpartition("__")
    return bool(sep) and prefix in text and f"__{leaf}" in text


@pytest.mark.parametrize("variable", setting_variables())
def test_every_setting_is_in_the_readme(variable: str) -> None:
    assert mentioned(variable, README), f"{variable} is missing from README.md"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_settings_doc(field: str) -> None:
    assert f"`{field}" in SETTINGS_DOC or f"BAZAAR_{field.upper()}" in SETTINGS_DOC


def commands() -> list[str]:
    names = [c.name for c in app.registered_commands if c.name]
    for group in app.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        names.extend(f"{group.name} {c.name}" for c in sub.registered_commands if c.name)
    return names


@pytest.mark.parametrize("command", commands())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"bazaar {command}" in README, f"`bazaar {command}` is missing from README.md"
