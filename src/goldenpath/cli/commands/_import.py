"""``platform catalog import``: register a location, wait for its entities, summarise.

The API registers and processes a location in one request (``POST /api/catalog/locations``)
and answers with its report (refs added, updated, invalid; Backstage's ``entities`` list is
only filled in a dry run). Waiting then means: poll ``POST /entities/by-refs`` (1,000 refs a
request, kinds only) until every entity added or updated is readable (bounded), with a Rich
progress bar on stderr, and collect the location's processing errors from
``GET /api/catalog/errors``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from goldenpath.cli import output
from goldenpath.cli.client import PlatformClient
from goldenpath.errors import InvalidInput

__all__ = ["import_location", "location_for"]

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:", re.IGNORECASE)
_WAIT_BOUND = 300.0  # seconds to wait for emitted entities to become readable
_POLL = 0.25
_BY_REFS_MAX = 1000  # refs per POST /entities/by-refs: the API's limit (as Backstage's client)


def location_for(argument: str, forced_type: str | None = None) -> dict[str, str]:
    """The ``{type, target}`` body for ``argument``.

    URLs (``https://…``, ``file://…``, ``git@host:repo``) and paths ending in ``.git`` are
    ``url`` locations (cloned with git by the server); anything else is a local path, sent
    as an absolute ``file`` target.

    Raises:
        InvalidInput: a local path that does not exist.
    """
    if forced_type == "url" or (forced_type is None and _looks_like_url(argument)):
        return {"type": "url", "target": argument}
    path = Path(argument).expanduser()
    if not path.exists() and not any(ch in argument for ch in "*?["):
        raise InvalidInput(
            f"{argument}: no such file or directory; pass a catalog file, a directory, a glob "
            "or a git URL"
        )
    return {"type": "file", "target": os.path.abspath(path)}


def import_location(
    client: PlatformClient, body: dict[str, str], *, wait: bool, dry_run: bool
) -> dict[str, Any]:
    """Register ``body`` and return ``{"location", "added", "updated", "invalid", "errors",
    "exists"}`` — refs (``kind:namespace/name``) in the three lists, problem dicts in
    ``errors``."""
    with _spinner("registering and processing " + body["target"]):
        response = client.post(
            "/api/catalog/locations", body, params={"dryRun": "true"} if dry_run else None
        )
    location = response.get("location") or {}
    entities = [e for e in response.get("entities") or [] if isinstance(e, dict)]
    result = _summary(response, [_ref(e) for e in entities])
    result["location"] = location
    result["exists"] = bool(response.get("exists", False))
    if wait and not dry_run:
        _wait_for(client, [*result["added"], *result["updated"]])
        if not result["errors"] and location.get("id"):
            result["errors"] = _location_errors(client, str(location["id"]))
            # Rejected = had an error and produced no entity; an entity can be stored and still
            # carry an error (a Location whose target is missing), which is not a rejection.
            subjects = {_error_subject(e) for e in result["errors"]}
            result["invalid"] = sorted(subjects - set(result["added"]))
    return result


def _summary(response: dict[str, Any], refs: list[str]) -> dict[str, Any]:
    report = response.get("report")
    if isinstance(report, dict):
        return {
            "added": list(report.get("added") or []),
            "updated": list(report.get("updated") or []),
            "unchanged": list(report.get("unchanged") or []),
            "invalid": list(report.get("invalid") or []),
            "errors": list(report.get("errors") or []),
        }
    return {"added": refs, "updated": [], "unchanged": [], "invalid": [], "errors": []}


def _wait_for(client: PlatformClient, refs: list[str]) -> None:
    """Poll until every ref is readable (bounded by ``_WAIT_BOUND``): ``_BY_REFS_MAX`` refs a
    request, only their kinds returned, and only the refs not seen yet asked again."""
    missing = list(dict.fromkeys(refs))
    total = len(missing)
    if not total:
        return
    deadline = time.monotonic() + _WAIT_BOUND
    with _progress() as progress:
        task = progress.add_task("processing entities", total=total)
        while True:
            still: list[str] = []
            for start in range(0, len(missing), _BY_REFS_MAX):
                chunk = missing[start : start + _BY_REFS_MAX]
                body = {"entityRefs": chunk, "fields": ["kind"]}
                items = (client.post("/api/catalog/entities/by-refs", body) or {}).get("items")
                items = items or []
                still += [ref for i, ref in enumerate(chunk) if i >= len(items) or not items[i]]
                unchecked = len(missing) - start - len(chunk)
                progress.update(task, completed=total - len(still) - unchecked)
            missing = still
            if not missing or time.monotonic() > deadline:
                return
            time.sleep(_POLL)


def _location_errors(client: PlatformClient, location_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"locationId": location_id, "limit": 500}
    for _page in range(100):  # bounded: at most 50,000 errors
        page = client.get("/api/catalog/errors", params=params)
        batch = page.get("items", []) if isinstance(page, dict) else list(page or [])
        items.extend(batch)
        cursor = (page.get("pageInfo") or {}).get("nextCursor") if isinstance(page, dict) else None
        if not cursor:
            break
        params = {"cursor": cursor, "limit": 500}
    return items


def _error_subject(error: dict[str, Any]) -> str:
    ref = error.get("entityRef") or error.get("ref")
    if ref:
        return str(ref)
    source = error.get("source") or error.get("file") or "?"
    index = error.get("docIndex", error.get("index"))
    return f"{source}#{index}" if index is not None else str(source)


def _ref(entity: dict[str, Any]) -> str:
    metadata = entity.get("metadata") or {}
    kind = str(entity.get("kind", "")).lower()
    return f"{kind}:{metadata.get('namespace') or 'default'}/{metadata.get('name')}"


def _spinner(text: str) -> Progress:
    progress = Progress(SpinnerColumn(), TextColumn(text), console=output.stderr(), transient=True)
    progress.add_task(text, total=None)
    return progress


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=output.stderr(),
        transient=True,
    )


def _looks_like_url(argument: str) -> bool:
    return bool(_URL.match(argument)) or argument.rstrip("/").endswith(".git")
