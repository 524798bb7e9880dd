"""Data shapes shared by the catalog's processing, store and service layers.

An entity is kept as the JSON-compatible ``dict`` Backstage defines (``apiVersion``, ``kind``,
``metadata``, ``spec``, ``relations``, ``status``); these dataclasses carry it through the
pipeline together with what processing derived from it.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Entity",
    "EntityError",
    "ProcessedDocument",
    "Relation",
]

Entity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Relation:
    """A directed relation ``source --type--> target`` between two entity refs.

    Refs are in their lower-cased, fully-qualified string form ``kind:namespace/name``.
    Relations are always produced in symmetric pairs (``ownedBy``/``ownerOf`` …).
    """

    source: str
    type: str
    target: str


@dataclass(frozen=True, slots=True)
class EntityError:
    """One problem with one document.

    Attributes:
        path: the field path in dotted/JSON-pointer-like form (``metadata.name``,
            ``spec.owner``; ``""`` for the document itself).
        message: what is wrong and what form was expected.
        stage: pipeline stage that found it: ``parse``, ``envelope``, ``rules``, ``policy``,
            ``kind``, ``placeholder``, ``relation``, ``conflict``, ``read``.
    """

    path: str
    message: str
    stage: str


@dataclass(slots=True)
class ProcessedDocument:
    """The outcome of processing one YAML document of a file.

    ``entity`` is the validated entity with placeholders resolved, namespace defaulted and
    location annotations added, or ``None`` when the document was rejected (then ``errors``
    says why). ``ref`` is known whenever kind and name could be read, even when invalid.
    ``warnings`` are non-fatal (e.g. dangling relation targets are reported at stitch time).
    """

    source: str
    index: int
    entity: Entity | None
    ref: str | None = None
    relations: list[Relation] = field(default_factory=list)
    errors: list[EntityError] = field(default_factory=list)
    warnings: list[EntityError] = field(default_factory=list)
    ignored: bool = False

    @property
    def valid(self) -> bool:
        """True when the document produced an entity (an ignored empty document counts)."""
        return self.ignored or (self.entity is not None and not self.errors)
