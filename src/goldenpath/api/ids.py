"""Record ids in paths, queries and headers, bounded to what a database column holds.

SQLite and PostgreSQL integer ids are signed 64-bit: a larger number from a client failed
inside the driver (``OverflowError``, a 500). Routes take ids through these, so a larger
one is a 400 naming the parameter (or, for a ``Last-Event-ID`` header, is ignored).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["MAX_ID", "RowId", "last_event_id"]

#: the largest id a signed 64-bit column holds
MAX_ID = 2**63 - 1

#: a path parameter naming one record by its id
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="the record's id")]


def last_event_id(value: str | None) -> int | None:
    """The ``Last-Event-ID`` header as an id, None when absent, not a number or out of
    range (Server-Sent Events: https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    try:
        found = int(value) if value else None
    except ValueError:
        return None
    return found if found is not None and 0 <= found <= MAX_ID else None
