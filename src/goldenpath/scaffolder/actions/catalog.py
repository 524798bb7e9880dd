"""Scaffolder actions that talk to the software catalog: ``catalog:register``,
``catalog:write`` and ``catalog:fetch`` (Backstage "Builtin actions", same inputs/outputs).

* ``catalog:register``: ``catalogInfoUrl``, or ``repoContentsUrl`` (a publish step's output,
  ``<repo>/blob|tree/<ref>[/<dir>]``) plus ``catalogInfoPath`` (default
  ``/catalog-info.yaml``; a leading ``/`` is the repository root) → registers the ``url``
  location ``<repo>/blob/<ref>/<path>``. ``optional: true`` tolerates an already registered
  or unreadable location. Outputs ``entityRef`` (the first Component, else the first
  non-generated entity) and ``catalogInfoUrl``. Dry run: nothing is registered; the
  ``entityRef`` comes from the workspace's own copy of the file when there is one.
* ``catalog:write``: ``entity`` → YAML at ``filePath`` (Backstage) or ``filename``
  (default ``catalog-info.yaml``) in the workspace.
* ``catalog:fetch``: ``entityRef`` → output ``entity``; ``entityRefs`` → ``entities``;
  ``defaultKind``/``defaultNamespace`` complete short refs; a missing entity is NotFound
  unless ``optional`` (then ``null``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from goldenpath.catalog.refs import parse_entity_ref, ref_of
from goldenpath.errors import Conflict, InvalidInput, NotFound, PlatformError, Unavailable
from goldenpath.scaffolder.actions.base import Action, ActionContext

__all__ = ["ACTIONS", "CATALOG_FETCH", "CATALOG_REGISTER", "CATALOG_WRITE", "catalog_info_url"]

_CONTENTS = re.compile(
    r"^(?P<base>.+?(?:/-)?/)(?:blob|tree|src)/(?P<ref>[^/?#]+)(?:/(?P<path>[^?#]*))?$"
)
_OPTIONAL = {
    "type": "boolean",
    "description": "Permit the registered location to optionally exist. Default: false",
}


def catalog_info_url(repo_contents_url: str, catalog_info_path: str = "/catalog-info.yaml") -> str:
    """``<repo>/blob/<ref>/<path>`` for a file of a repository contents URL.

    ``catalog_info_path`` starting with ``/`` is relative to the repository root, otherwise
    to the directory ``repo_contents_url`` points at. Examples:
    ``("https://github.com/o/r/blob/main", "/catalog-info.yaml")`` →
    ``https://github.com/o/r/blob/main/catalog-info.yaml``;
    ``("file:///g/o/r.git/tree/main", "/catalog-info.yaml")`` →
    ``file:///g/o/r.git/blob/main/catalog-info.yaml``.

    Raises:
        InvalidInput: the URL has no ``/blob/<ref>`` or ``/tree/<ref>`` part, or the path
            leaves the repository.
    """
    match = _CONTENTS.match(repo_contents_url.rstrip("/"))
    if match is None or "://" not in repo_contents_url:
        raise InvalidInput(
            f'catalog:register: repoContentsUrl "{repo_contents_url}" is not a repository '
            "contents URL like https://host/owner/repo/blob/<branch> (use the repoContentsUrl "
            "output of a publish step) — or pass catalogInfoUrl"
        )
    if catalog_info_path.startswith("/"):
        joined = catalog_info_path.lstrip("/")
    else:
        joined = posixpath.join(match["path"] or "", catalog_info_path)
    path = posixpath.normpath(joined) if joined else ""
    if not path or path == "." or path == ".." or path.startswith("../"):
        raise InvalidInput(
            f'catalog:register: catalogInfoPath "{catalog_info_path}" does not name a file '
            "inside the repository"
        )
    return f"{match['base']}blob/{match['ref']}/{path}"


def _pick_entity_ref(entities: Iterable[Mapping[str, Any]]) -> str | None:
    """Backstage's choice: first Component, else first non-generated entity, else first."""
    usable = [e for e in entities if isinstance(e, Mapping) and e.get("kind")]
    generated = [
        str((e.get("metadata") or {}).get("name", "")).startswith("generated-") for e in usable
    ]
    for entity, gen in zip(usable, generated, strict=True):
        if not gen and str(entity["kind"]).lower() == "component":
            return str(ref_of(entity))
    for entity, gen in zip(usable, generated, strict=True):
        if not gen:
            return str(ref_of(entity))
    return str(ref_of(usable[0])) if usable else None


def _ref_from_workspace(ctx: ActionContext, url: str) -> str | None:
    """Dry run: the entityRef the registered file would give, read from the workspace."""
    match = _CONTENTS.match(url)
    rel = match["path"] if match else None
    if not rel:
        return None
    try:
        path = ctx.resolve(rel, what="catalogInfoPath")
        if not path.is_file():
            return None
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        return _pick_entity_ref(d for d in docs if isinstance(d, Mapping))
    except (InvalidInput, OSError, yaml.YAMLError, UnicodeDecodeError):
        return None


def _catalog(ctx: ActionContext, action: str) -> Any:
    if ctx.services.catalog is None:
        raise Unavailable(f"{action}: this task has no catalog service")
    return ctx.services.catalog


def catalog_register(ctx: ActionContext) -> None:
    """``catalog:register`` (module doc)."""
    if ctx.input.get("catalogInfoUrl"):
        url = str(ctx.input["catalogInfoUrl"])
    elif ctx.input.get("repoContentsUrl"):
        url = catalog_info_url(
            str(ctx.input["repoContentsUrl"]),
            str(ctx.input.get("catalogInfoPath") or "/catalog-info.yaml"),
        )
    else:
        raise InvalidInput("catalog:register needs repoContentsUrl or catalogInfoUrl")
    optional = bool(ctx.input.get("optional", False))
    if ctx.dry_run:
        ctx.log(f"dry run: would register {url} in the catalog")
        ref = _ref_from_workspace(ctx, url)
        if ref:
            ctx.output("entityRef", ref)
        ctx.output("catalogInfoUrl", url)
        return
    catalog = _catalog(ctx, "catalog:register")
    ctx.log(f"Registering {url} in the catalog")
    entities: list[Mapping[str, Any]] | None = None
    try:
        entities = catalog.register_location(type="url", target=url).entities
    except Conflict:
        if not optional:
            raise
    except PlatformError as e:
        if not optional:
            raise
        ctx.log(f"optional location not registered: {e.message}")
    if entities is None:
        try:
            entities = catalog.register_location(type="url", target=url, dry_run=True).entities
        except PlatformError as e:
            if not optional:
                raise
            ctx.log(f"optional location could not be read: {e.message}")
    ref = _pick_entity_ref(entities or [])
    if ref:
        ctx.output("entityRef", ref)
    ctx.output("catalogInfoUrl", url)


def catalog_write(ctx: ActionContext) -> None:
    """``catalog:write``: the ``entity`` as YAML into the workspace (module doc)."""
    entity = ctx.input.get("entity")
    if not isinstance(entity, Mapping):
        raise InvalidInput("catalog:write: input entity must be an object (the entity to write)")
    name = ctx.input.get("filePath") or ctx.input.get("filename") or "catalog-info.yaml"
    path = ctx.resolve(str(name), what="filePath")
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx.log(f"Writing {name}")
    path.write_text(
        yaml.safe_dump(dict(entity), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )


def _full_ref(ref: Any, ctx: ActionContext) -> str:
    return str(
        parse_entity_ref(
            ref,
            default_kind=ctx.input.get("defaultKind"),
            default_namespace=ctx.input.get("defaultNamespace"),
        )
    )


def catalog_fetch(ctx: ActionContext) -> None:
    """``catalog:fetch`` (module doc)."""
    entity_ref, entity_refs = ctx.input.get("entityRef"), ctx.input.get("entityRefs")
    optional = bool(ctx.input.get("optional", False))
    if not entity_ref and not entity_refs:
        if optional:
            return
        raise InvalidInput("catalog:fetch: missing entityRef or entityRefs")
    catalog = _catalog(ctx, "catalog:fetch")
    if entity_ref:
        try:
            entity = catalog.get_entity_by_ref(_full_ref(entity_ref, ctx))
        except NotFound:
            if not optional:
                raise NotFound(f"catalog:fetch: entity {entity_ref} not found") from None
            entity = None
        ctx.output("entity", entity)
    if entity_refs:
        found = catalog.get_entities_by_refs([_full_ref(r, ctx) for r in entity_refs])
        for ref, entity in zip(entity_refs, found, strict=True):
            if entity is None and not optional:
                raise NotFound(f"catalog:fetch: entity {ref} not found")
        ctx.output("entities", found)


CATALOG_REGISTER = Action(
    id="catalog:register",
    description="Registers entities from a catalog descriptor file in the workspace into the "
    "software catalog.",
    handler=catalog_register,
    input_schema={
        "type": "object",
        "anyOf": [
            {
                "required": ["catalogInfoUrl"],
                "properties": {
                    "catalogInfoUrl": {
                        "type": "string",
                        "description": "An absolute URL pointing to the catalog info file location",
                    },
                    "optional": _OPTIONAL,
                },
            },
            {
                "required": ["repoContentsUrl"],
                "properties": {
                    "repoContentsUrl": {
                        "type": "string",
                        "description": "An absolute URL pointing to the root of a repository "
                        "directory tree",
                    },
                    "catalogInfoPath": {
                        "type": "string",
                        "description": "A relative path from the repo root pointing to the "
                        "catalog info file, defaults to /catalog-info.yaml",
                    },
                    "optional": _OPTIONAL,
                },
            },
        ],
    },
    output_schema={
        "type": "object",
        "properties": {
            "entityRef": {"type": "string"},
            "catalogInfoUrl": {"type": "string"},
        },
    },
    supports_dry_run=True,
)

CATALOG_WRITE = Action(
    id="catalog:write",
    description="Writes the catalog-info.yaml for your template",
    handler=catalog_write,
    input_schema={
        "type": "object",
        "required": ["entity"],
        "properties": {
            "filePath": {
                "title": "Catalog file path",
                "description": "Defaults to catalog-info.yaml",
                "type": "string",
            },
            "filename": {"description": "Alias of filePath", "type": "string"},
            "entity": {
                "title": "Entity info to write catalog-info.yaml",
                "description": "You can provide the same values used in the Entity schema.",
                "type": "object",
            },
        },
    },
    supports_dry_run=True,
)

CATALOG_FETCH = Action(
    id="catalog:fetch",
    description="Returns entity or entities from the catalog by entity reference(s)",
    handler=catalog_fetch,
    input_schema={
        "type": "object",
        "properties": {
            "entityRef": {"type": "string", "description": "Entity reference of the entity"},
            "entityRefs": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Entity references of the entities to get",
            },
            "optional": {
                "type": "boolean",
                "description": "Allow the entity or entities to optionally exist. Default: false",
            },
            "defaultKind": {"type": "string", "description": "The default kind"},
            "defaultNamespace": {"type": "string", "description": "The default namespace"},
        },
    },
    output_schema={
        "type": "object",
        "properties": {
            "entity": {"type": ["object", "null"]},
            "entities": {"type": "array", "items": {"type": ["object", "null"]}},
        },
    },
    supports_dry_run=True,
)

ACTIONS: list[Action] = [CATALOG_REGISTER, CATALOG_WRITE, CATALOG_FETCH]
