"""``/api/catalog/entities*`` and ``/api/catalog/entity-facets``: Backstage's catalog read API.

Paths and response shapes follow
https://backstage.io/docs/features/software-catalog/software-catalog-api so that
``@backstage/catalog-client`` works unchanged. Differences, all to stay bounded:

- ``GET /entities`` returns at most ``limit`` entities (default and maximum
  ``ENTITIES_MAX_LIMIT``). When more exist, the response carries Backstage's own
  ``Link: </api/catalog/entities?...&after=<cursor>>; rel="next"`` header (the URL to
  fetch next). ``offset`` is accepted up to ``OFFSET_MAX``.
- ``GET /entities/by-query`` defaults to 20 items, at most ``QUERY_MAX_LIMIT``; it returns
  ``pageInfo.nextCursor`` (no ``prevCursor``: pages are keyset scans forward).
  ``fullTextFilterFields`` is accepted and ignored: full text always searches name, title,
  description, tags and owner.
- ``POST /entities/by-refs`` takes at most ``BY_REFS_MAX`` refs (what the Backstage client
  sends per chunk); more is a 400.

The hot reads (get by name/uid, filtered pages, facets) are ``async`` routes: when the
catalog says the work is small and bounded (its ``try_*`` methods) they are answered on the
event loop, saving the worker-thread hop that costs more than the query; anything else
(full text, ordered pages, uncached counts, large pages, entities with many relations) runs
in the threadpool so the loop is never held up by a slow query.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from goldenpath.api.deps import PrincipalDep, ReaderDep, Services, ServicesDep
from goldenpath.api.responses import FastJSON, RawJSON, json_array, page_body
from goldenpath.api.routes._params import fields_param, legacy_order_param, order_field_param
from goldenpath.catalog.reads import EntityPage
from goldenpath.errors import InvalidInput

__all__ = ["ENTITIES_MAX_LIMIT", "QUERY_MAX_LIMIT", "router"]

ENTITIES_MAX_LIMIT = 500
OFFSET_MAX = 10_000
BY_REFS_MAX = 1000  # what @backstage/catalog-client sends per request at most
BY_REFS_CHUNK = 500
QUERY_MAX_LIMIT = 500
QUERY_DEFAULT_LIMIT = 20

router = APIRouter(prefix="/api/catalog", tags=["catalog"])

FilterQ = Annotated[
    list[str] | None, Query(description="kind=component,spec.type=service; repeat = OR")
]
FieldsQ = Annotated[list[str] | None, Query(description="comma-separated paths to keep")]
T = TypeVar("T")


async def _fast_or_threaded(fast: Callable[[], T | None], slow: Callable[[], T]) -> T:
    """``fast()`` on the event loop (bounded work; None when it declines), else ``slow()`` in
    the threadpool."""
    result = fast()
    if result is None:
        result = await run_in_threadpool(slow)
    return result


async def _page(svc: Services, **query: Any) -> EntityPage:
    """``query_entities_json(**query)``: on the event loop when the catalog says it is cheap."""
    return await _fast_or_threaded(
        partial(svc.catalog.try_query_entities_json, **query),
        partial(svc.catalog.query_entities_json, **query),
    )


@router.get("/entities", summary="List entities (Backstage: GET /entities), bounded")
async def list_entities(
    request: Request,
    svc: ServicesDep,
    _who: PrincipalDep,
    filter: FilterQ = None,
    fields: FieldsQ = None,
    limit: Annotated[int, Query(ge=1, le=ENTITIES_MAX_LIMIT)] = ENTITIES_MAX_LIMIT,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    after: str | None = None,
    order: Annotated[list[str] | None, Query(description="asc:metadata.name")] = None,
) -> Response:
    """A JSON array of entities; ``Link: <…after=…>; rel="next"`` when more exist."""
    ordering = [f"{field},{direction}" for field, direction in legacy_order_param(order)]
    cursor = after
    if offset and not after:
        cursor = await run_in_threadpool(_skip, svc, filter or [], ordering, offset)
        if cursor is None:
            return FastJSON([])
    page = await _page(
        svc,
        filters=filter or [],
        order=ordering,
        limit=limit,
        cursor=cursor,
        fields=fields_param(fields),
    )
    headers = {"Link": _next_link(request, page.next_cursor)} if page.next_cursor else {}
    return RawJSON(json_array(page.items), headers=headers)


def _skip(svc: Services, filters: list[str], ordering: list[str], offset: int) -> str | None:
    """The cursor after the first ``offset`` matches, None when there are no more (keyset walk)."""
    cursor: str | None = None
    while offset > 0:
        page = svc.catalog.query_entities_json(
            filters=filters,
            order=ordering,
            limit=min(offset, ENTITIES_MAX_LIMIT),
            cursor=cursor,
            fields=["kind"],
        )
        offset -= len(page.items)
        cursor = page.next_cursor
        if cursor is None:  # fewer than ``offset`` matches: nothing left to list
            return None
    return cursor


def _next_link(request: Request, cursor: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("after", "offset")]
    params.append(("after", cursor))
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'


@router.get("/entities/by-query", summary="Query entities with cursor paging (Backstage)")
async def query_entities(
    svc: ServicesDep,
    _who: PrincipalDep,
    filter: FilterQ = None,
    fields: FieldsQ = None,
    limit: Annotated[int, Query(ge=1, le=QUERY_MAX_LIMIT)] = QUERY_DEFAULT_LIMIT,
    orderField: Annotated[list[str] | None, Query(description="metadata.name,asc")] = None,
    fullTextFilterTerm: str | None = None,
    fullTextFilterFields: FieldsQ = None,
    cursor: str | None = None,
) -> RawJSON:
    """``{"items", "totalItems", "pageInfo": {"nextCursor"?, "prevCursor"?}}``."""
    term = fullTextFilterTerm.strip() if fullTextFilterTerm else None
    ordering = [f"{field},{direction}" for field, direction in order_field_param(orderField)]
    page = await _page(
        svc,
        filters=filter or [],
        full_text=term or None,
        order=ordering,
        limit=limit,
        cursor=cursor,
        fields=fields_param(fields),
    )
    page_info = {
        key: value
        for key, value in (("nextCursor", page.next_cursor), ("prevCursor", page.prev_cursor))
        if value
    }
    return RawJSON(page_body(page.items, page.total_items, page_info))


class EntitiesByRefs(BaseModel):
    """Body of ``POST /entities/by-refs``."""

    entityRefs: list[str] = Field(max_length=BY_REFS_MAX)
    fields: list[str] | None = None


@router.post("/entities/by-refs", summary="Entities for a list of refs, in order (Backstage)")
def entities_by_refs(
    body: EntitiesByRefs, svc: ServicesDep, _who: ReaderDep, filter: FilterQ = None
) -> RawJSON:
    """``{"items": [entity | null, ...]}`` in the order of ``entityRefs``."""
    if filter:
        raise InvalidInput("filter: not supported on by-refs; filter the returned items instead")
    fields = fields_param(body.fields)
    items: list[bytes | None] = []
    for start in range(0, len(body.entityRefs), BY_REFS_CHUNK):
        chunk = body.entityRefs[start : start + BY_REFS_CHUNK]
        items.extend(svc.catalog.get_entities_json_by_refs(chunk, fields=fields))
    return RawJSON(b'{"items":' + json_array(items) + b"}")


@router.get("/entities/by-name/{kind}/{namespace}/{name}", summary="One entity by ref (Backstage)")
async def entity_by_name(
    kind: str, namespace: str, name: str, svc: ServicesDep, _who: PrincipalDep
) -> RawJSON:
    """The entity, or a 404 problem."""
    ref = f"{kind}:{namespace}/{name}"
    return RawJSON(
        await _fast_or_threaded(
            partial(svc.catalog.try_get_entity_json_by_ref, ref),
            partial(svc.catalog.get_entity_json_by_ref, ref),
        )
    )


@router.get("/entities/by-name/{kind}/{namespace}/{name}/ancestry", summary="Ancestry (Backstage)")
def entity_ancestry(
    kind: str, namespace: str, name: str, svc: ServicesDep, _who: PrincipalDep
) -> FastJSON:
    """``{"rootEntityRef", "items": [{"entity", "parentEntityRefs"}]}``."""
    return FastJSON(svc.catalog.ancestry(f"{kind}:{namespace}/{name}"))


@router.get("/entities/by-uid/{uid}", summary="One entity by metadata.uid (Backstage)")
async def entity_by_uid(uid: str, svc: ServicesDep, _who: PrincipalDep) -> RawJSON:
    """The entity, or a 404 problem."""
    return RawJSON(
        await _fast_or_threaded(
            partial(svc.catalog.try_get_entity_json_by_uid, uid),
            partial(svc.catalog.get_entity_json_by_uid, uid),
        )
    )


@router.delete("/entities/by-uid/{uid}", status_code=204, summary="Delete an entity (Backstage)")
def delete_entity_by_uid(uid: str, svc: ServicesDep, _who: PrincipalDep) -> Response:
    """204; the entity comes back on the next refresh if its location still emits it."""
    svc.catalog.delete_entity_by_uid(uid)
    return Response(status_code=204)


@router.get("/entity-facets", summary="Value counts of entity fields (Backstage)")
async def entity_facets(
    svc: ServicesDep,
    _who: PrincipalDep,
    facet: Annotated[list[str], Query(min_length=1, max_length=20)],
    filter: FilterQ = None,
) -> FastJSON:
    """``{"facets": {"<facet>": [{"value", "count"}]}}`` (from the event loop when cached)."""
    facets = await _fast_or_threaded(
        partial(svc.catalog.try_facets, facets=facet, filters=filter or []),
        partial(svc.catalog.facets, facets=facet, filters=filter or []),
    )
    return FastJSON({"facets": facets})
