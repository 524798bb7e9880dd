"""Portal page ``/catalog``: the entity table with kind tabs, facets, full text and cursor pages.

Query parameters (every one optional; a page's URL says everything it shows):

- ``kind`` — the kind tab (default ``component``; ``all`` for every kind);
- ``owner``, ``type``, ``lifecycle``, ``tags``, ``system`` — facet values, repeatable (values
  of one facet are OR'ed, facets AND'ed: Backstage's ``{"spec.owner": [a, b]}`` filter);
  ``owner`` and ``system`` are entity refs: the facet lists each as its full ref resolved the
  Backstage way (``storefront-team`` and ``group:default/storefront-team`` are one entry,
  counts summed; default kind Group resp. System, default namespace ``default``) and
  filtering by it matches every spelling of that ref (:func:`ref_spellings`);
- ``q`` — full text (``CatalogService.query_entities(full_text=)``);
- ``sort`` — ``name`` or ``-name`` (default: by ref, which is by name within a kind);
- ``after`` — where the page starts (the previous page's last row), ``back`` — the starts of
  up to :data:`BACK_MAX` earlier pages (``.``-separated), so "Previous" works without
  JavaScript or server state; ``limit`` — rows per page (default 25, at most 100).

Speed at 100,000 entities: only the columns shown are fetched (``fields=``); facet counts
are asked for per kind tab (not per facet selection) and come from the catalog's per-version
cache; on a large catalog a missing count is computed by a worker thread while the page is
served without it (see ``_facet_counts``); pages are keyset ranges (no ``OFFSET``).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from goldenpath.catalog import filters as qf
from goldenpath.catalog.refs import DEFAULT_NAMESPACE, parse_entity_ref
from goldenpath.catalog.service import CatalogService
from goldenpath.errors import InvalidInput, PlatformError
from goldenpath.portal.session import ViewerDep, services_of
from goldenpath.portal.web import render

__all__ = [
    "BACK_MAX",
    "FACETS",
    "FIELDS",
    "REF_FACETS",
    "CatalogQuery",
    "full_ref",
    "merge_ref_counts",
    "ref_label",
    "ref_spellings",
    "router",
]

router = APIRouter(include_in_schema=False)

#: facet parameter -> the entity field it filters and counts
FACETS: dict[str, str] = {
    "owner": "spec.owner",
    "type": "spec.type",
    "lifecycle": "spec.lifecycle",
    "tags": "metadata.tags",
    "system": "spec.system",
}
#: facets whose values are entity refs -> the kind a ref without one means (Backstage's
#: defaults for ``spec.owner`` and ``spec.system``)
REF_FACETS: dict[str, str] = {"owner": "group", "system": "system"}
#: the columns of the table (``fields=`` projection)
FIELDS = [
    "kind",
    "metadata.name",
    "metadata.namespace",
    "metadata.title",
    "metadata.description",
    "metadata.tags",
    "spec.owner",
    "spec.type",
    "spec.lifecycle",
    "spec.system",
]
BACK_MAX = 20
#: catalogs up to this many entities count facets while the page waits
SYNC_FACETS_MAX = 20_000
_WARMING: set[tuple[int, bytes]] = set()
_WARMING_LOCK = threading.Lock()
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_FACET_VALUES_SHOWN = 30
MultiQ = Annotated[list[str] | None, Query()]


def full_ref(value: str, default_kind: str) -> str:
    """``value`` as the lower-cased full ref ``kind:namespace/name`` (``storefront-team`` →
    ``group:default/storefront-team`` for ``default_kind="group"``); a value that is no ref
    (e.g. ``a:``) is returned lower-cased and stripped, as it was written."""
    text = value.strip()
    try:
        return parse_entity_ref(text, default_kind=default_kind).key()
    except PlatformError:
        return text.lower()


def ref_spellings(ref: str, default_kind: str) -> list[str]:
    """Every way of writing the full ref ``ref`` that resolves to it with ``default_kind`` and
    the default namespace (lower-cased; the catalog's filters ignore case), e.g. for
    ``group:default/team-a``: ``group:default/team-a``, ``default/team-a``,
    ``group:team-a``, ``team-a``. A value that is no full ref is its only spelling."""
    try:
        parsed = parse_entity_ref(ref, default_kind=default_kind)
    except PlatformError:
        return [ref.lower()]
    kind, namespace, name = (p.lower() for p in (parsed.kind, parsed.namespace, parsed.name))
    out = [f"{kind}:{namespace}/{name}"]
    if kind == default_kind.lower():
        out.append(f"{namespace}/{name}")
    if namespace == DEFAULT_NAMESPACE:
        out.append(f"{kind}:{name}")
        if kind == default_kind.lower():
            out.append(name)
    return out


def ref_label(ref: str, default_kind: str) -> str:
    """A full ref written short, like Backstage's ``humanizeEntityRef``: without the default
    kind and the default namespace (``group:default/team-a`` → ``team-a``,
    ``user:default/jane`` → ``user:jane``)."""
    try:
        parsed = parse_entity_ref(ref, default_kind=default_kind)
    except PlatformError:
        return ref
    kind = "" if parsed.kind.lower() == default_kind.lower() else f"{parsed.kind.lower()}:"
    namespace = "" if parsed.namespace.lower() == DEFAULT_NAMESPACE else f"{parsed.namespace}/"
    return f"{kind}{namespace}{parsed.name}"


def merge_ref_counts(options: list[dict[str, Any]], default_kind: str) -> list[dict[str, Any]]:
    """Facet counts ``[{value, count}]`` of a ref field merged by full ref: one
    ``{value: full ref, count: summed, label}`` per entity, most entities first (then by ref)."""
    merged: dict[str, int] = {}
    for option in options:
        key = full_ref(str(option["value"]), default_kind)
        merged[key] = merged.get(key, 0) + int(option["count"])
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"value": k, "count": n, "label": ref_label(k, default_kind)} for k, n in ordered]


@dataclass(slots=True)
class CatalogQuery:
    """What one catalog page asks for (parsed from the URL)."""

    kind: str
    facets: dict[str, list[str]]
    q: str
    sort: str
    limit: int

    def filters(self, *, with_facets: bool = True) -> dict[str, Any]:
        """The Backstage mapping filter of this query (kind, and facets when asked)."""
        out: dict[str, Any] = {}
        if self.kind != "all":
            out["kind"] = self.kind
        if with_facets:
            for param, values in self.facets.items():
                if values and param in REF_FACETS:
                    spellings = (ref_spellings(v, REF_FACETS[param]) for v in values)
                    out[FACETS[param]] = list(dict.fromkeys(s for ss in spellings for s in ss))
                elif values:
                    out[FACETS[param]] = values
        return out

    def order(self) -> str | None:
        """``metadata.name`` / ``metadata.name,desc`` / None (ref order)."""
        return {"name": "metadata.name", "-name": "metadata.name,desc"}.get(self.sort)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The URL parameters of this query (without page position), with ``changes``."""
        values: dict[str, Any] = {
            "kind": self.kind,
            **{p: list(v) for p, v in self.facets.items()},
            "q": self.q,
            "sort": self.sort,
            "limit": self.limit if self.limit != DEFAULT_LIMIT else "",
        }
        values.update(changes)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item not in ("", None):
                    out.append((key, str(item)))
        return out

    def url(self, **changes: Any) -> str:
        """``/catalog?…`` of this query with ``changes`` (first page)."""
        return "/catalog?" + urlencode(self.params(**changes))


def _position(token: str) -> tuple[str | None, str]:
    """Decode an ``after`` token: ``(sort value, entity_ref)`` of the last row of a page.

    Raises:
        InvalidInput: not a token this page wrote.
    """
    try:
        value, ref = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(ref, str) or not (value is None or isinstance(value, str)):
            raise ValueError(token)
    except (binascii.Error, ValueError, TypeError) as e:
        raise InvalidInput(
            "the page position (after=) is malformed: follow the Next/Previous links"
        ) from e
    return value, ref


def _token(value: str | None, ref: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([value, ref])).decode("ascii").rstrip("=")


def _cursor(query: CatalogQuery, after: str) -> str:
    """The catalog's own cursor for the page that starts after position ``after``."""
    value, ref = _position(after)
    return qf.encode_cursor(
        qf.Cursor(
            qf.parse_filters(query.filters()),
            query.q or None,
            qf.parse_order(query.order()),
            value,
            ref,
        )
    )


def _row(entity: Mapping[str, Any]) -> dict[str, Any]:
    meta = entity.get("metadata") or {}
    spec = entity.get("spec") or {}
    tags = meta.get("tags")
    return {
        "entity": entity,
        "kind": entity.get("kind") or "",
        "name": meta.get("name") or "",
        "namespace": meta.get("namespace") or "default",
        "title": meta.get("title") or meta.get("name") or "",
        "description": meta.get("description") or "",
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "owner": spec.get("owner") or "",
        "type": spec.get("type") or "",
        "lifecycle": spec.get("lifecycle") or "",
        "system": spec.get("system") or "",
    }


def _facet_counts(
    catalog: CatalogService, filters: dict[str, Any], catalog_size: int
) -> dict[str, list[dict[str, Any]]] | None:
    """Facet counts of the tab: from the catalog's cache, computed here for a small catalog,
    else None while a worker thread computes them (the next view has them).

    Counting every value of five fields over ~70,000 components takes seconds, and the cache
    is invalidated by every catalog write, so a large catalog never makes a page wait for it.
    """
    names = list(FACETS.values())
    found = catalog.try_facets(facets=names, filters=filters)
    if found is not None:
        return found
    if catalog_size <= SYNC_FACETS_MAX:
        return catalog.facets(facets=names, filters=filters)
    key = (id(catalog), orjson.dumps(filters, option=orjson.OPT_SORT_KEYS))
    with _WARMING_LOCK:
        if key in _WARMING:
            return None
        _WARMING.add(key)

    def warm() -> None:
        try:
            catalog.facets(facets=names, filters=filters)
        except PlatformError:
            pass  # shown as "not counted" again; the next view retries
        finally:
            with _WARMING_LOCK:
                _WARMING.discard(key)

    threading.Thread(target=warm, name="catalog facets", daemon=True).start()
    return None


def _refs(values: list[str] | None, default_kind: str) -> list[str]:
    """Selected ref facet values as full refs (old links may carry any spelling)."""
    return list(dict.fromkeys(full_ref(v, default_kind) for v in values or [] if v.strip()))


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    _viewer: ViewerDep,
    kind: str = "component",
    q: str = "",
    sort: str = "",
    after: str = "",
    back: str = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    owner: MultiQ = None,
    type: MultiQ = None,
    lifecycle: MultiQ = None,
    tags: MultiQ = None,
    system: MultiQ = None,
) -> HTMLResponse:
    """The catalog table (see the module docstring for the parameters)."""
    catalog = services_of(request).catalog
    query = CatalogQuery(
        kind=(kind.strip().lower() or "component"),
        facets={
            "owner": _refs(owner, REF_FACETS["owner"]),
            "type": type or [],
            "lifecycle": lifecycle or [],
            "tags": tags or [],
            "system": _refs(system, REF_FACETS["system"]),
        },
        q=q.strip(),
        sort=sort if sort in ("name", "-name") else "",
        limit=limit,
    )
    page = catalog.query_entities(
        filters=query.filters(),
        full_text=query.q or None,
        order=query.order(),
        limit=query.limit,
        cursor=_cursor(query, after) if after else None,
        fields=FIELDS,
    )
    kinds = catalog.facets(facets=["kind"])["kind"]
    kind_total = sum(int(k["count"]) for k in kinds)
    counts = _facet_counts(catalog, query.filters(with_facets=False), kind_total)
    trail = [t for t in back.split(".") if t][-BACK_MAX:]
    next_url = prev_url = None
    if page.next_cursor:
        end = qf.decode_cursor(page.next_cursor)
        next_back = [*trail, after] if after else trail
        next_url = query.url(
            after=_token(end.last_value, end.last_ref), back=".".join(next_back[-BACK_MAX:])
        )
    if after:
        prev_url = query.url(after=trail[-1] if trail else "", back=".".join(trail[:-1]))
    facets = []
    for param, field in FACETS.items():
        options = list((counts or {}).get(field, []))
        if param in REF_FACETS:
            options = merge_ref_counts(options, REF_FACETS[param])
        else:
            options = [{**o, "label": str(o["value"])} for o in options]
        facets.append(
            {
                "param": param,
                "label": param.capitalize(),
                "selected": query.facets[param],
                "selected_labels": {
                    v: ref_label(v, REF_FACETS[param]) if param in REF_FACETS else v
                    for v in query.facets[param]
                },
                "options": options[:_FACET_VALUES_SHOWN],
            }
        )
    context = {
        "title": "Catalog",
        "nav": "catalog",
        "query": query,
        "rows": [_row(e) for e in page.items],
        "total": page.total_items,
        "kinds": kinds,
        "kind_total": kind_total,
        "facets": facets,
        "facets_pending": counts is None,
        "next_url": next_url,
        "prev_url": prev_url,
        "first_url": query.url() if after else None,
        "search_query": "",
    }
    return render(request, "catalog_list.html", context)
