"""``/api/catalog/locations``, ``/refresh``, ``/validate-entity`` and ``/errors``.

Backstage shapes (https://backstage.io/docs/features/software-catalog/software-catalog-api):
``POST /locations`` → 201 ``{location: {id, type, target}, entities: [...], exists?}``;
``GET /locations`` → ``[{data: {id, type, target}}]``; ``GET /locations/{id}`` →
``{id, type, target}``; ``POST /refresh`` → 200 (our body: the refresh report);
``POST /validate-entity`` → 200 ``{}`` or 400 problem with ``errors``.
``GET /errors`` is goldenpath's extension: processing errors, cursor-paginated.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from goldenpath.api.deps import PrincipalDep, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


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
    """201 ``{location, entities, exists?}``; 409 when already registered (not in a dry run)."""
    result = svc.catalog.register_location(type=body.type, target=body.target, dry_run=dryRun)
    return JSONResponse(_location_result(result), status_code=201)


@router.get("/locations", summary="All registered locations (Backstage)")
def list_locations(svc: ServicesDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    """``[{"data": {"id", "type", "target"}}]``."""
    return [{"data": _location(loc)} for loc in svc.catalog.list_locations()]


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
    return _jsonable(report)


class ValidateInput(BaseModel):
    """Body of ``POST /validate-entity``."""

    entity: dict[str, Any]
    location: str = Field(default="url:http://localhost/catalog-info.yaml")


@router.post("/validate-entity", summary="Validate one entity without storing it (Backstage)")
def validate_entity(body: ValidateInput, svc: ServicesDep, _who: PrincipalDep) -> dict[str, Any]:
    """200 ``{}`` when valid; 400 problem ``{errors: [{name, message, path}]}`` otherwise."""
    svc.catalog.validate_entity(body.entity, location=body.location)
    return {}


@router.get("/errors", summary="Processing errors (goldenpath extension), paginated")
def list_errors(
    svc: ServicesDep,
    _who: PrincipalDep,
    locationId: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> dict[str, Any]:
    """``{"items": [...], "totalItems", "pageInfo": {"nextCursor"?}}``."""
    errors = [_jsonable(e) for e in svc.catalog.list_errors(location_id=locationId)]
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page = errors[start : start + limit]
    info = {"nextCursor": str(start + limit)} if start + limit < len(errors) else {}
    return {"items": page, "totalItems": len(errors), "pageInfo": info}


def _location(loc: Any) -> dict[str, Any]:
    if isinstance(loc, dict):
        return {"id": loc["id"], "type": loc["type"], "target": loc["target"]}
    return {"id": loc.id, "type": loc.type, "target": loc.target}


def _location_result(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"location": _location(result.location), "entities": result.entities}
    if result.exists is not None:
        body["exists"] = result.exists
    return body


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value
