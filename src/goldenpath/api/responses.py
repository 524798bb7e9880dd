"""Fast JSON responses for the catalog's hot read paths.

Entities come from the store as JSON documents (bytes); :class:`RawJSON` sends one as is and
:func:`json_array` / :func:`page_body` splice several into an array or a page envelope, so a
page is never parsed and re-serialised. :class:`FastJSON` renders other values with orjson,
skipping FastAPI's ``jsonable_encoder`` walk.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

__all__ = ["FastJSON", "RawJSON", "json_array", "page_body"]


class FastJSON(JSONResponse):
    """``application/json`` rendered by orjson (UTF-8, no NaN, ``str`` keys only)."""

    def render(self, content: Any) -> bytes:
        """Serialise ``content``; non-string dict keys are refused, as JSON has none."""
        return orjson.dumps(content)


class RawJSON(Response):
    """``application/json`` whose body is already-serialised JSON bytes."""

    media_type = "application/json"


def json_array(docs: list[bytes | None]) -> bytes:
    """``[doc, …]`` from JSON documents; ``None`` becomes ``null``."""
    return b"[" + b",".join(b"null" if d is None else d for d in docs) + b"]"


def page_body(docs: list[bytes], total_items: int, page_info: dict[str, str]) -> bytes:
    """Backstage's ``{"items": [...], "totalItems": n, "pageInfo": {...}}`` from documents."""
    return (
        b'{"items":'
        + json_array(list(docs))
        + b',"totalItems":'
        + str(int(total_items)).encode()
        + b',"pageInfo":'
        + orjson.dumps(page_info)
        + b"}"
    )
