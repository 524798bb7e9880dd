"""Portal entity pages: ``/catalog/{namespace}/{kind}/{name}`` and its Relations and API tabs.

The URL is Backstage's portal form; namespace, kind and name match case-insensitively (refs
are). Other areas' tabs (docs, deployments, environments, resources, secrets, scorecard) live
in their own route modules and share :func:`load_entity`, ``_entity_header.html`` and
``_entity_tabs.html`` (context ``entity`` and ``tab``).

- Overview: description, owner, system, lifecycle, type, links, tags, labels, annotations and
  the processing errors the catalog keeps in ``status.items`` (an entity whose file turned
  invalid keeps its last valid version and shows why here);
- Relations: the neighbourhood at ``?depth=1`` (default) or ``2`` as an SVG drawn by Graphviz
  (:mod:`goldenpath.portal.graph`), plus the same edges as a list for screen readers;
- API (kind API only): ``spec.definition`` rendered by :mod:`goldenpath.portal.apidocs`;
  problems with the definition are shown on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from goldenpath.catalog.model import Entity
from goldenpath.errors import NotFound, PlatformError
from goldenpath.portal import apidocs, graph
from goldenpath.portal.session import ViewerDep, services_of
from goldenpath.portal.web import render

__all__ = ["load_entity", "router", "safe_url"]

router = APIRouter(include_in_schema=False)

_BASE = "/catalog/{namespace}/{kind}/{name}"
_GRAPH_FIELDS = ["kind", "metadata.name", "metadata.namespace", "metadata.title", "relations"]
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def load_entity(request: Request, namespace: str, kind: str, name: str) -> Entity:
    """The entity at a portal URL (case-insensitive), with ``relations`` and ``status``.

    Raises:
        NotFound: no such entity (the portal shows a 404 page).
    """
    catalog = services_of(request).catalog
    try:
        return catalog.get_entity_by_ref(f"{kind}:{namespace}/{name}")
    except NotFound:
        raise NotFound(
            f"There is no {kind} named {name} in namespace {namespace}; "
            "find it in the catalog (/catalog)."
        ) from None


def safe_url(url: Any) -> str | None:
    """``url`` when it is http(s) or mailto (links from entity files never run script)."""
    text = str(url or "").strip()
    return text if text.lower().startswith(_SAFE_SCHEMES) else None


def _errors(entity: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for item in ((entity.get("status") or {}).get("items")) or []:
        if not isinstance(item, Mapping):
            continue
        raw_error = item.get("error")
        error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
        out.append(
            {
                "level": str(item.get("level") or "error"),
                "type": str(item.get("type") or ""),
                "message": str(error.get("message") or item.get("message") or ""),
                "name": str(error.get("name") or ""),
            }
        )
    return out


def _links(entity: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for link in (entity.get("metadata") or {}).get("links") or []:
        if isinstance(link, Mapping):
            url = safe_url(link.get("url"))
            out.append(
                {
                    "url": url or "",
                    "raw": str(link.get("url") or ""),
                    "title": str(link.get("title") or link.get("url") or ""),
                }
            )
    return out


def _relation_groups(entity: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for rel in entity.get("relations") or []:
        groups.setdefault(str(rel.get("type")), []).append(str(rel.get("targetRef")))
    return sorted(groups.items())


def _context(entity: Entity, tab: str, **extra: Any) -> dict[str, Any]:
    meta = entity.get("metadata") or {}
    return {
        "title": f"{meta.get('title') or meta.get('name')} · {entity.get('kind')}",
        "nav": "catalog",
        "entity": entity,
        "tab": tab,
        **extra,
    }


@router.get(_BASE, response_class=HTMLResponse)
def entity_overview(
    request: Request, _viewer: ViewerDep, namespace: str, kind: str, name: str
) -> HTMLResponse:
    """The Overview tab."""
    entity = load_entity(request, namespace, kind, name)
    meta = entity.get("metadata") or {}
    context = _context(
        entity,
        "overview",
        errors=_errors(entity),
        links=_links(entity),
        relation_groups=_relation_groups(entity),
        annotations=sorted((meta.get("annotations") or {}).items()),
        labels=sorted((meta.get("labels") or {}).items()),
    )
    return render(request, "entity_overview.html", context)


@router.get(_BASE + "/relations", response_class=HTMLResponse)
def entity_relations(
    request: Request,
    _viewer: ViewerDep,
    namespace: str,
    kind: str,
    name: str,
    depth: Annotated[int, Query(ge=1, le=2)] = 1,
) -> HTMLResponse:
    """The Relations tab: an SVG of the neighbourhood and the edges as a list."""
    entity = load_entity(request, namespace, kind, name)
    catalog = services_of(request).catalog
    meta = entity.get("metadata") or {}
    root = f"{entity.get('kind')}:{meta.get('namespace') or 'default'}/{meta.get('name')}".lower()

    def fetch(refs: Sequence[str]) -> list[dict[str, Any] | None]:
        return catalog.get_entities_by_refs(list(refs)[:500], fields=_GRAPH_FIELDS)

    hood = graph.neighbourhood(entity, root, depth=depth, fetch=fetch)
    svg, svg_error = "", ""
    try:
        svg = graph.render_svg(hood)
    except PlatformError as e:
        svg_error = e.message
    titles = {n.ref: n for n in hood.nodes}
    context = _context(
        entity, "relations", hood=hood, svg=svg, svg_error=svg_error, depth=depth, nodes=titles
    )
    return render(request, "entity_relations.html", context)


@router.get(_BASE + "/api", response_class=HTMLResponse)
def entity_api(
    request: Request, _viewer: ViewerDep, namespace: str, kind: str, name: str
) -> HTMLResponse:
    """The API tab (kind API): operations, channels, messages and schemas."""
    entity = load_entity(request, namespace, kind, name)
    if str(entity.get("kind")).lower() != "api":
        raise NotFound(f"{kind} {name} is not an API: only API entities have an API tab")
    spec = entity.get("spec") or {}
    view = apidocs.parse_definition(spec.get("definition"), declared_type=str(spec.get("type")))
    raw = spec.get("definition") if isinstance(spec.get("definition"), str) else ""
    context = _context(entity, "api", api=view, api_type=str(spec.get("type") or ""), raw=raw)
    return render(request, "entity_api.html", context)
