"""``POST /api/catalog/validate-entity``: validate one entity from a request body.

Runs the catalog's real processing pipeline (``catalog.processing.process_text``) on the
entity as a one-document file, with a placeholder reader that refuses every target: a request
body must never make the server read its own files (``$text: /etc/passwd``).
Backstage's endpoint: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from goldenpath.catalog import processing
from goldenpath.errors import InvalidInput

__all__ = ["validate_entity"]


def _no_reads(target: str, _base: Path | None) -> str:
    raise InvalidInput(
        f"placeholder target {target!r}: validate-entity does not read files or URLs; "
        "validate the file with 'platform catalog validate' instead"
    )


def validate_entity(entity: dict[str, Any], *, location: str, rules: processing.KindRules) -> None:
    """Raise when ``entity`` would be rejected at ingestion.

    Raises:
        InvalidInput: with ``details.errors = [{"name", "message", "path"}]`` (the
            ``errors`` member ``@backstage/catalog-client``'s ``validateEntity`` reads).
    """
    docs = processing.process_text(
        json.dumps(entity),
        source=location,
        rules=rules,
        base_dir=None,
        location_key=location,
        origin_location_key=location,
        reader=_no_reads,
    )
    problems = [
        {"name": "InputError", "message": e.message, "path": e.path}
        for doc in docs
        for e in doc.errors
    ]
    if problems or not docs or not any(doc.entity is not None for doc in docs):
        problems = problems or [{"name": "InputError", "message": "no entity", "path": ""}]
        raise InvalidInput(
            f"{location}: the entity is invalid: "
            + "; ".join(f"{p['path'] or '(document)'}: {p['message']}" for p in problems[:5]),
            details={"errors": problems},
        )
