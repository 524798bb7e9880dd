"""``/api/resources/v1/*``: resource types, claims, connection outputs, backups.

JSON is camelCase (``Claim.to_dict()``, ``Backup.to_dict()``); errors are RFC 9457 problems.
Any token may read; creating, backing up, restoring and deleting need a member or admin
token. Connection outputs mask the password unless ``?reveal=true`` is asked by an admin.

- ``GET /types`` → ``[{name, description, sizes, backups}]``
- ``GET /compositions`` → ``[Composition]`` (built-in and the platform team's)
- ``GET /claims?environment&type&usage`` → ``[Claim]`` (``usage=true`` measures sizes)
- ``POST /claims`` ``{name, type, size?, environment?, owner?, params?}`` → 201 the Claim
- ``GET /claims/{env}/{name}`` → the Claim (with ``usedBytes``)
- ``DELETE /claims/{env}/{name}?force`` → ``{claim, finalBackup}`` (final backup first)
- ``GET /claims/{env}/{name}/connection?reveal`` → ``{name, environment, revealed, outputs}``
- ``GET /claims/{env}/{name}/manifests`` → Kubernetes manifests of a Kubernetes claim
- ``POST /claims/{env}/{name}/backups`` → 201 the Backup; ``GET …/backups`` → ``[Backup]``
- ``POST /claims/{env}/{name}/restore`` ``{backup}`` → ``{restored, claim}``
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from goldenpath.api.deps import PrincipalDep, ReaderDep, ServicesDep
from goldenpath.api.routes import _ownership
from goldenpath.auth.models import Role
from goldenpath.resources.model import ClaimRequest

__all__ = ["PREFIX", "router"]

PREFIX = "/api/resources/v1"
router = APIRouter(prefix=PREFIX, tags=["resources"])
_CLAIM = "/claims/{environment}/{name}"


class ClaimInput(BaseModel):
    """Body of ``POST /claims``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    type: str = Field(min_length=1, max_length=63)
    size: str = Field(default="small", min_length=1, max_length=40)
    environment: str = Field(default="dev", min_length=1, max_length=40)
    owner: str | None = Field(default=None, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)


class RestoreInput(BaseModel):
    """Body of ``POST …/restore``: the backup id (``GET …/backups`` lists them)."""

    model_config = ConfigDict(extra="forbid")

    backup: str = Field(min_length=1, max_length=40)


@router.get("/types", summary="Resource types and their size classes")
def list_types(svc: ServicesDep, _who: ReaderDep) -> list[dict[str, Any]]:
    """``[{name, description, sizes: {class: {...}}, backups}]`` by name."""
    return [kind.to_dict() for kind in svc.resources.types()]


@router.get("/compositions", summary="Compositions (built-in and the platform team's)")
def list_compositions(svc: ServicesDep, _who: ReaderDep) -> list[dict[str, Any]]:
    """``[Composition]`` by name; 400 when a composition file is invalid (names it)."""
    return [comp.to_dict() for comp in svc.resources.compositions().all()]


@router.get("/claims", summary="Claims")
def list_claims(
    svc: ServicesDep,
    _who: ReaderDep,
    environment: str | None = None,
    type: str | None = None,
    usage: bool = False,
) -> list[dict[str, Any]]:
    """``[Claim]`` by environment and name; ``usage=true`` fills ``usedBytes``."""
    found = svc.resources.list(environment=environment, type=type, usage=usage)
    return [claim.to_dict() for claim in found]


@router.post("/claims", status_code=201, summary="Claim (provision) a resource")
def create_claim(body: ClaimInput, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """201 the Claim (idempotent for the same spec); 400 unknown type/size (lists the valid
    ones), 409 the name exists with another type or size, 503 the data service is down."""
    _ownership.require_claim_owner(
        svc, who, body.name, environment=body.environment, owner=body.owner
    )
    request = ClaimRequest(
        name=body.name,
        type=body.type,
        size=body.size,
        environment=body.environment,
        owner=body.owner,
        params=body.params,
    )
    claim = svc.resources.create(request, actor=who.user)
    return JSONResponse(claim.to_dict(), status_code=201)


@router.get(_CLAIM, summary="One claim")
def get_claim(environment: str, name: str, svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """The Claim with ``usedBytes``; 404 for an unknown name."""
    return svc.resources.get(name, environment=environment).to_dict()


@router.delete(_CLAIM, summary="Delete a claim (a final backup is taken first)")
def delete_claim(
    environment: str, name: str, svc: ServicesDep, who: PrincipalDep, force: bool = False
) -> dict[str, Any]:
    """``{claim, finalBackup}``; 409 while services use it (unless ``force``)."""
    resources = svc.resources
    claim = resources.get(name, environment=environment)
    _ownership.require_claim_owner(svc, who, name, environment=environment, owner=claim.owner)
    final = resources.delete(name, environment=environment, actor=who.user, force=force)
    doc = claim.to_dict()
    doc["state"] = "deleted"
    return {"claim": doc, "finalBackup": final.to_dict() if final else None}


@router.get(f"{_CLAIM}/connection", summary="Connection outputs (password masked)")
def connection(
    environment: str,
    name: str,
    request: Request,
    svc: ServicesDep,
    who: ReaderDep,
    reveal: bool = False,
) -> dict[str, Any]:
    """``{name, environment, revealed, outputs: {host, port, database, username, password,
    url}}``; the password is shown only with ``reveal=true`` and an admin token (and that
    read is written to the audit log)."""
    revealed = reveal and who.role is Role.ADMIN
    outputs = svc.resources.outputs(name, environment=environment, reveal=revealed)
    if revealed:
        svc.auth.record(
            principal=who, action="REVEAL connection", target=request.url.path, outcome=200
        )
    return {"name": name, "environment": environment, "revealed": revealed, "outputs": outputs}


@router.get(f"{_CLAIM}/manifests", summary="Kubernetes manifests of a claim")
def manifests(
    environment: str, name: str, svc: ServicesDep, _who: ReaderDep
) -> list[dict[str, Any]]:
    """The manifests a Kubernetes composition renders; 400 for a local claim."""
    return svc.resources.manifests(name, environment=environment)


@router.post(f"{_CLAIM}/backups", status_code=201, summary="Back up a database now")
def create_backup(environment: str, name: str, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """201 the Backup; 400 for a type without backups or an unwritable directory, 503 when
    the disk is full or the dump failed (older backups are intact)."""
    _ownership.require_claim_owner(svc, who, name, environment=environment)
    made = svc.resources.backup(name, environment=environment, actor=who.user)
    return JSONResponse(made.to_dict(), status_code=201)


@router.get(f"{_CLAIM}/backups", summary="A claim's backups, newest first")
def list_backups(
    environment: str, name: str, svc: ServicesDep, _who: ReaderDep
) -> list[dict[str, Any]]:
    """``[Backup]`` newest first."""
    return [b.to_dict() for b in svc.resources.backups(name, environment=environment)]


@router.post(f"{_CLAIM}/restore", summary="Restore a backup into the claim's database")
def restore(
    environment: str, name: str, body: RestoreInput, svc: ServicesDep, who: PrincipalDep
) -> dict[str, Any]:
    """``{restored: <backup id>, claim}``; 404 for an unknown backup (lists the ids)."""
    resources = svc.resources
    _ownership.require_claim_owner(svc, who, name, environment=environment)
    resources.restore(name, body.backup, environment=environment, actor=who.user)
    return {
        "restored": body.backup,
        "claim": resources.get(name, environment=environment).to_dict(),
    }
