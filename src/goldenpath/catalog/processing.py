"""The catalog's processing pipeline for one file: text in, processed documents out (no database).

Stages, in Backstage's order (``DefaultCatalogProcessingOrchestrator`` for a file location):

1. ``parse`` — YAML 1.2 documents (:mod:`goldenpath.catalog.yamldocs`); empty ones are ignored.
2. ``envelope`` — apiVersion/kind/metadata.name present; annotations a mapping; the location
   annotations ``backstage.io/managed-by-location`` and ``…-origin-location`` are set.
3. ``rules`` — the kind is allowed (``catalog.allowed_kinds``, Backstage's ``catalog.rules``).
4. ``placeholder`` — ``$text``/``$json``/``$yaml``/``$openapi`` substituted; Backstage's
   pre-processing sort of ``providesApis``, ``dependsOn``, ``memberOf`` … lists.
5. ``policy`` — entity schema, default namespace, no foreign root fields, field formats.
6. ``kind`` — per-kind spec validation (and Location ``spec.type``/targets shape).
7. ``relation`` — well-known relations from spec fields (bad references fail the document).

A document that fails a stage is rejected with that stage's errors; the rest of the file is
still processed. ``metadata.uid``/``etag`` are not set here: the store owns them.

Source: https://backstage.io/docs/features/software-catalog/life-of-an-entity
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldenpath.catalog import validation
from goldenpath.catalog.model import EntityError, ProcessedDocument
from goldenpath.catalog.placeholders import PlaceholderReader, file_reader, resolve_placeholders
from goldenpath.catalog.relations import derive_relations
from goldenpath.catalog.yamldocs import YamlDocument, parse_documents
from goldenpath.errors import InvalidInput

__all__ = [
    "ANNOTATION_LOCATION",
    "ANNOTATION_ORIGIN_LOCATION",
    "KindRules",
    "PlaceholderReader",
    "location_key_for",
    "process_file",
    "process_text",
]

ANNOTATION_LOCATION = "backstage.io/managed-by-location"
ANNOTATION_ORIGIN_LOCATION = "backstage.io/managed-by-origin-location"
_SORTED_FIELDS = (
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "memberOf",
    "children",
    "members",
)


@dataclass(frozen=True, slots=True)
class KindRules:
    """Which kinds the catalog accepts, like Backstage's ``catalog.rules`` (``allow: [...]``).

    Attributes:
        allowed: lower-cased kind names; ``"*"`` accepts any kind. Kinds outside the built-in
            set that are allowed here are validated by envelope and policies only.
    """

    allowed: frozenset[str]

    @classmethod
    def from_kinds(cls, kinds: Iterable[str]) -> KindRules:
        """Build from ``CatalogSettings.allowed_kinds`` (case-insensitive)."""
        return cls(frozenset(k.lower() for k in kinds))

    def allows(self, kind: str) -> bool:
        """True when documents of ``kind`` may be ingested."""
        return "*" in self.allowed or kind.lower() in self.allowed


@dataclass(frozen=True, slots=True)
class _Context:
    source: str
    rules: KindRules
    base_dir: Path | None
    location_key: str | None
    origin_location_key: str | None
    reader: PlaceholderReader


def location_key_for(path: Path) -> str:
    """``file:<absolute path>``: the ``backstage.io/managed-by-location`` value of a local file.

    The path is made absolute and normalised (``..`` removed), symlinks are kept.
    """
    return f"file:{os.path.normpath(path.expanduser().absolute())}"


def process_text(
    text: str | bytes,
    *,
    source: str,
    rules: KindRules,
    base_dir: Path | None,
    location_key: str | None,
    origin_location_key: str | None,
    reader: PlaceholderReader | None = None,
    max_bytes: int = 1_000_000,
    max_aliases: int = 100,
) -> list[ProcessedDocument]:
    """Process every YAML document of one catalog file.

    Args:
        text: the file content.
        source: how messages name the file (usually its path).
        rules: allowed kinds.
        base_dir: directory relative placeholder targets resolve against (``None``: none allowed).
        location_key: value of ``backstage.io/managed-by-location`` (``file:/abs/path``).
        origin_location_key: value of ``backstage.io/managed-by-origin-location`` (the
            registered location's key; defaults to ``location_key``).
        reader: reads placeholder targets; default
            :func:`~goldenpath.catalog.placeholders.file_reader` bounded by ``base_dir``.
        max_bytes: largest accepted YAML document in bytes.
        max_aliases: YAML alias budget per document (the npm ``yaml`` package's ``maxAliasCount``).

    Returns:
        One :class:`ProcessedDocument` per document, in file order. Never raises for bad
        content: problems are in ``errors`` (with field path and stage).
    """
    ctx = _Context(
        source=source,
        rules=rules,
        base_dir=base_dir,
        location_key=location_key,
        origin_location_key=origin_location_key or location_key,
        reader=reader or file_reader(),
    )
    docs = parse_documents(text, source=source, max_bytes=max_bytes, max_aliases=max_aliases)
    return [_process_document(doc, ctx) for doc in docs]


def process_file(
    path: Path,
    *,
    rules: KindRules,
    origin_location_key: str | None = None,
    allowed_roots: Sequence[Path] = (),
    reader: PlaceholderReader | None = None,
    max_bytes: int = 1_000_000,
    max_aliases: int = 100,
) -> list[ProcessedDocument]:
    """Read and process a local catalog file (``location_key`` = ``file:<absolute path>``).

    ``allowed_roots`` bounds placeholder targets (empty: the file's own directory).

    Raises:
        InvalidInput: the file does not exist or cannot be read (the message names it).
    """
    # Normalised, not symlink-resolved (like Backstage's path.normalize): no lstat per component.
    resolved = Path(os.path.normpath(path.expanduser().absolute()))
    try:
        data = resolved.read_bytes()
    except FileNotFoundError as e:
        raise InvalidInput(
            f"cannot read catalog file {resolved}: it does not exist; check the location target"
        ) from e
    except OSError as e:
        raise InvalidInput(f"cannot read catalog file {resolved}: {e.strerror or e}") from e
    return process_text(
        data,
        source=str(resolved),
        rules=rules,
        base_dir=resolved.parent,
        location_key=location_key_for(resolved),
        origin_location_key=origin_location_key,
        reader=reader or file_reader(allowed_roots),
        max_bytes=max_bytes,
        max_aliases=max_aliases,
    )


def _process_document(doc: YamlDocument, ctx: _Context) -> ProcessedDocument:
    out = ProcessedDocument(source=ctx.source, index=doc.index, entity=None)
    if doc.error is not None:
        out.errors.append(doc.error)
        return out
    if doc.empty:
        out.ignored = True
        return out
    entity: dict[str, Any] = doc.data
    out.errors = validation.check_envelope(entity)
    if out.errors:
        return out
    metadata = entity["metadata"]
    out.ref = _ref_key(entity)
    annotations_error = validation.check_annotations_object(metadata)
    if annotations_error is not None:
        out.errors.append(annotations_error)
        return out
    _add_location_annotations(entity, ctx)
    if not ctx.rules.allows(entity["kind"]):
        out.errors.append(_rules_error(out.ref, ctx))
        return out
    if doc.has_dollar_keys:
        entity, out.errors = resolve_placeholders(entity, base_dir=ctx.base_dir, reader=ctx.reader)
        if out.errors:
            return out
    _sort_spec_lists(entity)
    out.errors = validation.enforce_policies(entity) or validation.check_kind(
        entity, allow_unknown=True
    )
    if not out.errors and entity["kind"] == "Location":
        out.errors = _check_location(entity, ctx)
    if out.errors:
        return out
    try:
        out.relations = derive_relations(entity)
    except InvalidInput as e:
        out.errors.append(EntityError(str(e.details.get("path", "spec")), e.message, "relation"))
        return out
    out.entity = entity
    return out


def _ref_key(entity: dict[str, Any]) -> str:
    metadata = entity["metadata"]
    namespace = metadata.get("namespace") or "default"
    return f"{entity['kind']}:{namespace}/{metadata['name']}".lower()


def _add_location_annotations(entity: dict[str, Any], ctx: _Context) -> None:
    metadata = dict(entity["metadata"])
    annotations = dict(metadata.get("annotations") or {})
    if ctx.origin_location_key is not None:
        annotations[ANNOTATION_ORIGIN_LOCATION] = ctx.origin_location_key
    if ctx.location_key is not None:
        annotations[ANNOTATION_LOCATION] = ctx.location_key
    metadata["annotations"] = annotations
    entity["metadata"] = metadata


def _rules_error(ref: str, ctx: _Context) -> EntityError:
    allowed = ", ".join(sorted(ctx.rules.allowed)) or "none"
    where = ctx.location_key or ctx.source
    return EntityError(
        "kind",
        f"Entity {ref} at {where} is not of an allowed kind for that location; allowed kinds: "
        f"{allowed} (add the kind to catalog.allowed_kinds to accept it)",
        "rules",
    )


def _sort_spec_lists(entity: dict[str, Any]) -> None:
    spec = entity.get("spec")
    if not isinstance(spec, dict):
        return
    for field in _SORTED_FIELDS:
        value = spec.get(field)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value.sort()


def _check_location(entity: dict[str, Any], ctx: _Context) -> list[EntityError]:
    """Backstage's location step: only ``url``/``file`` targets; file targets are not dirs.

    ``spec.type`` defaults to the type of the location the entity was read from.
    """
    spec = entity["spec"]
    own_type = (ctx.location_key or "file:").split(":", 1)[0]
    kind = spec.get("type", own_type)
    if kind not in ("file", "url"):
        return [
            EntityError(
                "spec.type",
                f'Registered locations must be of an allowed type ["file","url"], not "{kind}"',
                "kind",
            )
        ]
    targets = ([spec["target"]] if spec.get("target") else []) + list(spec.get("targets") or [])
    return [
        EntityError(
            "spec.targets",
            f"Location target {t} ends with a path separator: point it at a file, not a directory",
            "kind",
        )
        for t in targets
        if kind == "file" and t.endswith("/")
    ]
