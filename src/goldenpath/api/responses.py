"""Fast JSON responses for the catalog's hot read paths.

Entities are already JSON-ready dicts; serialising them with orjson and skipping FastAPI's
``jsonable_encoder`` walk keeps get-by-name and filtered pages within their latency budget.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

__all__ = ["FastJSON"]


class FastJSON(JSONResponse):
    """``application/json`` rendered by orjson (UTF-8, no NaN, ``str`` keys only)."""

    def render(self, content: Any) -> bytes:
        """Serialise ``content``; non-string dict keys are refused, as JSON has none."""
        return orjson.dumps(content)
