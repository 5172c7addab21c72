"""Response classes: orjson serialization (faster than the stdlib json FastAPI defaults to)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["ORJSONResponse"]


class ORJSONResponse(JSONResponse):
    """A JSON response serialized by orjson (Decimal-safe via ``default=str``)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS)
