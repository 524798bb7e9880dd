"""Records passed between ingestion and the store: what a pass produced, what the store knows.

Source: https://backstage.io/docs/features/software-catalog/life-of-an-entity
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goldenpath.catalog.model import Entity, Relation
from goldenpath.catalog.store.derive import Prepared

__all__ = ["Candidate", "ErrorRow", "Existing", "LocationPass", "RefreshReport"]


@dataclass(slots=True)
class RefreshReport:
    """What a refresh (or a registration) did; lists of lower-cased entity refs.

    ``errors`` are ``{"location_id", "source", "index", "entityRef", "stage", "path",
    "message"}``; ``dangling`` are ``{"source", "type", "target"}`` relations whose target
    entity does not exist (capped at 500).
    """

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    dangling: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API and ``platform catalog import --output json`` print it)."""
        return {k: list(getattr(self, k)) for k in self.__slots__}


@dataclass(slots=True)
class Existing:
    """What the store knows about one entity, enough to diff without loading its JSON."""

    row_id: int
    entity_id: str
    location_id: str
    hash: str
    generation: int
    orphaned_at: datetime | None
    parent_ref: str | None


@dataclass(slots=True)
class Candidate:
    """A valid entity a location emits in this pass.

    ``prepared``: rows derived where the entity was processed (a worker), used when the
    entity is new and has no status items; otherwise the writer derives them itself.
    ``hash``: set for an entity of a file that was not read again because it is unchanged
    (``entity`` is then ``{}``): the stored content hash, which must still match.
    """

    ref: str
    entity: Entity
    relations: list[Relation]
    location_key: str | None
    parent_ref: str | None
    status_items: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    doc_index: int | None = None
    prepared: Prepared | None = None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One problem to record in ``catalog_errors``."""

    source: str
    doc_index: int | None
    entity_ref: str | None
    stage: str
    path: str
    message: str

    def to_dict(self, location_id: str | None) -> dict[str, Any]:
        """API shape of the error."""
        return {
            "location_id": location_id,
            "source": self.source,
            "index": self.doc_index,
            "entityRef": self.entity_ref,
            "stage": self.stage,
            "path": self.path,
            "message": self.message,
        }


@dataclass(slots=True)
class LocationPass:
    """Everything one location produced, ready to apply.

    ``keep_refs``: refs not emitted this time that must not be orphaned (invalid now but
    valid before, or children of a Location whose target failed to read).
    ``complete``: ``False`` when the location's own target failed; nothing is orphaned then.
    """

    location_id: str
    candidates: list[Candidate]
    errors: list[ErrorRow]
    invalid_refs: list[str]
    keep_refs: set[str]
    failed_parents: set[str]
    complete: bool
