"""Request and response bodies of the identity API: one DTO per use, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from bazaar.contexts.identity.domain.access import Permission, Role
from bazaar.contexts.identity.domain.credentials import (
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    normalize_email,
)
from bazaar.contexts.identity.domain.errors import InvalidEmailError

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "Jwks",
    "LoginRequest",
    "LogoutRequest",
    "RefreshRequest",
    "TenantCreate",
    "TenantPublic",
    "TokenPairPublic",
    "UserPublic",
    "UserRegister",
]


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmailError as exc:
        raise ValueError("value is not a valid email address") from exc


# Ids travel as decimal strings: JavaScript numbers cannot hold 64-bit ids exactly.
IdText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH + 66), AfterValidator(_email)]
NewPassword = Annotated[
    str, StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH)
]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class TenantCreate(_Request):
    name: Name
    admin_email: Email
    admin_password: NewPassword


class TenantPublic(_Response):
    id: str
    name: str
    admin_user_id: str


class TenantPlanUpdate(_Request):
    plan: str | None = Field(
        description="A plan name (its limit is the `plan_<plan>` rate-limit policy), "
        "or null to take the tenant off every plan.",
        examples=["pro"],
    )


class TenantPlanPublic(_Response):
    id: str
    name: str
    plan: str | None


class UserRegister(_Request):
    tenant_id: IdText
    email: Email
    password: NewPassword
    role: Role = Role.CUSTOMER


class UserPublic(_Response):
    id: str
    email: str
    role: Role
    tenant_id: str


class LoginRequest(_Request):
    tenant_id: IdText
    # No format check here: a malformed email must fail like any other wrong credential.
    email: Annotated[str, StringConstraints(min_length=1, max_length=EMAIL_MAX_LENGTH + 66)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class TokenPairPublic(_Response):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(_Request):
    refresh_token: OpaqueToken


class LogoutRequest(_Request):
    refresh_token: OpaqueToken


class ApiKeyCreate(_Request):
    name: Name
    scopes: Annotated[list[Permission], Field(max_length=len(Permission))]


class ApiKeyCreated(_Response):
    id: str
    key: str = Field(description="The whole key. Shown once: only its hash is stored.")
    prefix: str
    name: str
    scopes: list[Permission]
    created_at: datetime


class Jwks(_Response):
    keys: list[dict[str, Any]]
