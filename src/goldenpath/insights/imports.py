"""Deployment events imported from outside the platform (an existing CI), validated (pure).

Teams not yet deploying through the platform can still be measured (issue 8): their CI posts
one JSON object per deployment to ``POST /api/insights/v1/deployments``::

    {"id": "gha-8812",                # unique per source; a repeat is a duplicate, not re-inserted
     "service": "checkout",           # DNS label, the catalog Component's metadata.name
     "environment": "production",     # DNS label
     "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",   # optional, 7-64 hex digits
     "committedAt": "2026-12-01T09:00:00Z",                # optional (lead time needs it)
     "finishedAt": "2026-12-01T10:30:00Z",
     "status": "success" | "failure",
     "kind": "deploy" | "rollback" | "hotfix" | "redeploy",  # optional, default deploy
     "rollbackOf": "gha-8790",        # optional: the id (same source) a rollback undid
     "source": "github-actions"}      # optional, default the request's source

Each invalid item is reported with its index and field and skipped; the valid ones are
stored. At most :data:`MAX_EVENTS` items per request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.insights.incidents import parse_time

__all__ = ["KINDS", "MAX_EVENTS", "DeploymentImport", "ImportProblem", "validate_events"]

#: most events accepted by one request
MAX_EVENTS = 5000
KINDS: tuple[str, ...] = ("deploy", "rollback", "hotfix", "redeploy")
_STATUS = {"success": True, "succeeded": True, "failure": False, "failed": False}
_DNS = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,199}$")


@dataclass(frozen=True)
class DeploymentImport:
    """One valid imported deployment event (times aware UTC)."""

    source: str
    external_id: str
    service: str
    environment: str
    sha: str | None
    committed_at: datetime | None
    finished_at: datetime
    succeeded: bool
    kind: str
    rollback_of: str | None


@dataclass(frozen=True)
class ImportProblem:
    """Why item ``index`` was refused: ``field`` (camelCase, as sent) and a message."""

    index: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """``{index, field, message}``."""
        return {"index": self.index, "field": self.field, "message": self.message}


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def validate_events(
    events: Sequence[Mapping[str, Any]], *, source: str = "import"
) -> tuple[list[DeploymentImport], list[ImportProblem]]:
    """Split ``events`` into valid :class:`DeploymentImport` records and per-item errors.

    Raises:
        InvalidInput: ``events`` is not a list, holds more than :data:`MAX_EVENTS` items, or
            ``source`` is not a valid id.
    """
    if isinstance(events, str | bytes | Mapping) or not isinstance(events, Sequence):
        raise InvalidInput(
            "deployment events must be a JSON list of objects {id, service, environment, sha, "
            "committedAt?, finishedAt, status, kind?}",
            details={"field": "events"},
        )
    if len(events) > MAX_EVENTS:
        raise InvalidInput(
            f"{len(events)} deployment events in one request; send at most {MAX_EVENTS} per "
            "request (split the history into batches)",
            details={"field": "events", "count": len(events)},
        )
    if not isinstance(source, str) or not _ID.match(source) or len(source) > 100:
        raise InvalidInput(
            f"source {source!r} is not a valid name; use letters, digits and -._ (≤ 100)",
            details={"field": "source"},
        )
    good: list[DeploymentImport] = []
    bad: list[ImportProblem] = []
    for index, item in enumerate(events):
        try:
            good.append(_one(item, source))
        except _Bad as e:
            bad.append(ImportProblem(index, e.field, e.message))
    return good, bad


def _one(item: object, default_source: str) -> DeploymentImport:
    if not isinstance(item, Mapping):
        raise _Bad("", "the event is not a JSON object")
    source = _text(item, "source", default_source)
    if not _ID.match(source) or len(source) > 100:
        raise _Bad("source", f"source {source!r} is not a valid name (letters, digits, -._)")
    external_id = _text(item, "id", None)
    if not _ID.match(external_id):
        raise _Bad("id", f"id {external_id!r} is not a valid id (1-200 letters, digits, -._:/#@+)")
    service = _text(item, "service", None)
    if not _DNS.match(service):
        raise _Bad("service", f"service {service!r} is not a DNS label (lower-case, digits, -)")
    environment = _text(item, "environment", None)
    if len(environment) > 40 or not _DNS.match(environment):
        raise _Bad("environment", f"environment {environment!r} is not a DNS label (≤ 40)")
    sha = item.get("sha")
    if sha is not None and (not isinstance(sha, str) or not _SHA.match(sha.lower())):
        raise _Bad("sha", f"sha {sha!r} is not a git commit id (7-64 hex digits)")
    status = item.get("status")
    if status not in _STATUS:
        raise _Bad("status", f"status {status!r} is unknown; use 'success' or 'failure'")
    kind = _text(item, "kind", "deploy")
    if kind not in KINDS:
        raise _Bad("kind", f"kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    rollback_of = item.get("rollbackOf")
    if rollback_of is not None and (not isinstance(rollback_of, str) or not _ID.match(rollback_of)):
        raise _Bad("rollbackOf", f"rollbackOf {rollback_of!r} is not an event id")
    finished_at = _time(item, "finishedAt", required=True)
    assert finished_at is not None  # required=True never returns None
    return DeploymentImport(
        source=source,
        external_id=external_id,
        service=service,
        environment=environment,
        sha=sha.lower() if isinstance(sha, str) else None,
        committed_at=_time(item, "committedAt", required=False),
        finished_at=finished_at,
        succeeded=_STATUS[status],
        kind=kind,
        rollback_of=rollback_of,
    )


def _text(item: Mapping[str, Any], key: str, default: str | None) -> str:
    value = item.get(key, default)
    if value is None:
        raise _Bad(key, f"{key} is missing")
    if not isinstance(value, str) or not value.strip():
        raise _Bad(key, f"{key} must be a non-empty string")
    return value.strip()


def _time(item: Mapping[str, Any], key: str, *, required: bool) -> datetime | None:
    value = item.get(key)
    if value is None:
        if required:
            raise _Bad(key, f"{key} is missing; use an ISO-8601 time such as 2026-12-04T10:15:00Z")
        return None
    try:
        return parse_time(value, key)
    except InvalidInput as e:
        raise _Bad(key, e.message) from e
