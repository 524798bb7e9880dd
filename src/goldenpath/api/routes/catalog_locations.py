"""``/api/catalog/locations``, ``/refresh``, ``/validate-entity`` and ``/errors``.

Backstage shapes (https://backstage.io/docs/features/software-catalog/software-catalog-api):
``POST /locations`` → 201 ``{location: {id, type, target}, entities: [...], exists?}``
(``entities`` and ``exists`` only filled in a dry run, as Backstage's
``DefaultLocationService``: a registration answers ``entities: []``; goldenpath adds
``report``: the refresh report of the registration — refs added, updated, unchanged,
invalid, and the errors — which Backstage clients ignore); ``GET /locations`` → ``[{data: {id, type,
target}}]`` (at most 500 per response, ``Link`` header to the next page); ``GET /locations/{id}`` →
``{id, type, target}``; ``POST /refresh`` → 200 (our body: the refresh report);
``POST /validate-entity`` → 200 ``{}`` or 400 problem with ``errors``.
``GET /errors`` is goldenpath's extension: processing errors, cursor-paginated.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from goldenpath.api import validation
from goldenpath.api.deps import PrincipalDep, ReaderDep, ServicesDep
from goldenpath.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(prefix="/api/catalog", tags=["catalog"])

LOCATIONS_MAX_LIMIT = 500


class LocationInput(BaseModel):
    """Body of ``POST /locations``."""

    type: str = Field(default="url", description="file (path, directory or glob) | url (git)")
    target: str = Field(min_length=1, max_length=4096)


@router.post("/locations", status_code=201, summary="Register a location (Backstage)")
def create_location(
    body: LocationInput,
    svc: ServicesDep,
    _who: PrincipalDep,
    dryRun: bool = False,
) -> JSONResponse:
    """201 ``{location, entities, exists?, report?}``: ``entities`` what the location would
    produce in a dry run, ``[]`` otherwise (as Backstage; the refs are in ``report``, and
    the 100k benchmark catalog's entities are 65 MiB of JSON); 409 when already registered
    (not in a dry run)."""
    result = svc.catalog.register_location(type=body.type, target=body.target, dry_run=dryRun)
    return JSONResponse(_location_result(result, dryRun), status_code=201)


@router.get("/locations", summary="Registered locations (Backstage), bounded")
def list_locations(
    request: Request,
    svc: ServicesDep,
    _who: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=LOCATIONS_MAX_LIMIT)] = LOCATIONS_MAX_LIMIT,
    after: Annotated[str | None, Query(description="id of the last location seen")] = None,
) -> JSONResponse:
    """``[{"data": {"id", "type", "target"}}]`` in registration order, at most ``limit``;
    a ``Link: <…?after=<id>>; rel="next"`` header when the page is full."""
    items = svc.catalog.list_locations(limit=limit, after=after)
    headers = {}
    if len(items) == limit:
        query = urlencode({"limit": limit, "after": items[-1]["id"]})
        headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return JSONResponse([{"data": _location(loc)} for loc in items], headers=headers)


@router.get("/locations/{location_id}", summary="One location (Backstage)")
def get_location(location_id: str, svc: ServicesDep, _who: PrincipalDep) -> dict[str, Any]:
    """``{"id", "type", "target"}`` or a 404 problem."""
    return _location(svc.catalog.get_location(location_id))


@router.delete("/locations/{location_id}", status_code=204, summary="Unregister (Backstage)")
def delete_location(location_id: str, svc: ServicesDep, _who: PrincipalDep) -> Response:
    """204; the location's entities are removed with it."""
    svc.catalog.delete_location(location_id)
    return Response(status_code=204)


class RefreshInput(BaseModel):
    """Body of ``POST /refresh``: ``{"entityRef"}`` for one entity, ``{}`` for everything."""

    entityRef: str | None = None
    locationId: str | None = None


@router.post("/refresh", summary="Refresh now (Backstage); 409 while a refresh runs")
def refresh(
    svc: ServicesDep, _who: PrincipalDep, body: RefreshInput | None = None
) -> dict[str, Any]:
    """200 with the report ``{added, updated, unchanged, invalid, orphaned, deleted, errors}``."""
    body = body or RefreshInput()
    report = svc.catalog.refresh(location_id=body.locationId, entity_ref=body.entityRef)
    result: dict[str, Any] = report.to_dict()
    return result


class ValidateInput(BaseModel):
    """Body of ``POST /validate-entity``."""

    entity: dict[str, Any]
    location: str = Field(default="url:http://localhost/catalog-info.yaml")


@router.post("/validate-entity", summary="Validate one entity without storing it (Backstage)")
def validate_entity(body: ValidateInput, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """200 ``{}`` when valid; 400 problem ``{errors: [{name, message, path}]}`` otherwise.

    Placeholders (``$text`` …) are refused: the server never reads files for a request body.
    """
    validation.validate_entity(body.entity, location=body.location, rules=svc.catalog.rules)
    return {}


@router.get("/errors", summary="Processing errors (goldenpath extension), paginated")
def list_errors(
    svc: ServicesDep,
    _who: PrincipalDep,
    locationId: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="pageInfo.nextCursor of a page")] = None,
) -> dict[str, Any]:
    """``{"items": [{id, location_id, source, index, entityRef, stage, path, message}],
    "pageInfo": {"nextCursor"?}}`` in id order. The cursor is opaque and carries
    ``locationId``, like Backstage's by-query cursors carry their query."""
    after = None
    if cursor:
        locationId, after = _decode_errors_cursor(cursor)
    items = svc.catalog.list_errors(location_id=locationId, limit=limit, after=after)
    info = {}
    if len(items) == limit:
        info["nextCursor"] = _encode_errors_cursor(locationId, int(items[-1]["id"]))
    return {"items": items, "pageInfo": info}


def _encode_errors_cursor(location_id: str | None, after: int) -> str:
    raw = json.dumps({"locationId": location_id, "after": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_errors_cursor(cursor: str) -> tuple[str | None, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        location_id, after = data["locationId"], int(data["after"])
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInput(
            f"cursor: {cursor!r} is not a cursor from pageInfo.nextCursor; "
            "start again without a cursor",
            details={"errors": [{"path": "cursor", "message": "malformed cursor"}]},
        ) from e
    return (str(location_id) if location_id is not None else None), after


def _location(loc: dict[str, Any]) -> dict[str, Any]:
    return {"id": loc["id"], "type": loc["type"], "target": loc["target"]}


def _location_result(result: Any, dry_run: bool) -> dict[str, Any]:
    entities = result.entities if dry_run else []
    body: dict[str, Any] = {"location": _location(result.location), "entities": entities}
    if dry_run:
        body["exists"] = result.exists
    if result.report is not None:
        body["report"] = result.report.to_dict()
    return body
