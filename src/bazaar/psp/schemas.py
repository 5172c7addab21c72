"""Request bodies of the simulator's API (one model per use; unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt

from bazaar.psp.faults import MAX_LATENCY_MS
from bazaar.psp.model import parse_amount

__all__ = [
    "Amount",
    "AuthorizeParams",
    "CaptureParams",
    "FaultParams",
    "RefundParams",
    "VoidParams",
]


def _amount(value: object) -> int:
    # Strings only: a JSON number such as 19.99 is a binary float before we ever see it.
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "19.99"')
    return parse_amount(value)


Amount = Annotated[int, BeforeValidator(_amount)]
"""A positive decimal string with at most two decimals, parsed to integer minor units."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorizeParams(_Params):
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    card_token: str = Field(min_length=1, max_length=64)
    reference: str | None = Field(default=None, max_length=200)
    capture: StrictBool = False


class CaptureParams(_Params):
    amount: Amount | None = None


class RefundParams(_Params):
    amount: Amount | None = None


class VoidParams(_Params):
    pass


class FaultParams(_Params):
    """``PUT /v1/admin/faults``: replaces all faults; an omitted field is switched off."""

    latency_ms: StrictInt = Field(default=0, ge=0, le=MAX_LATENCY_MS)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    outage: StrictBool = False
