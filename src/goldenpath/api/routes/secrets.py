"""``/api/secrets/v1/*``: secrets metadata, writes, the admin-only reveal, rotation.

Responses carry metadata only (``{name, service, environment, version, updatedAt, updatedBy,
keyId, source}``) — never a value, except ``GET /secrets/{name}/value``, which needs an admin
token and writes its own audit row. Any token may list; writes need a member or admin token.

- ``GET /secrets?service&environment&all`` → ``[SecretMeta]`` (newest version of each).
  Without ``service``/``environment`` every scope; with them exactly that scope, or with
  ``all=true`` every scope they match.
- ``PUT /secrets/{name}`` ``{value, service?, environment?}`` → the new version's SecretMeta
- ``POST /secrets`` ``{values: {NAME: value}, service?, environment?}`` → ``[SecretMeta]``
  (one transaction)
- ``GET /secrets/{name}/versions?service&environment`` → ``[SecretMeta]``, newest first
- ``GET /secrets/{name}/value?service&environment`` → SecretMeta + ``value`` (admin)
- ``DELETE /secrets/{name}?service&environment`` → ``{name, service, environment, deleted}``
- ``POST /rotate`` ``{name?, all?, service?, environment?}`` → ``{results: [RotationResult]}``
  (``all`` without a scope: every scope)
- ``POST /rotate-master-key`` → ``{rewrapped, keyId}`` (admin)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from goldenpath.api.deps import AdminDep, PrincipalDep, ReaderDep, Services, ServicesDep
from goldenpath.api.routes import _ownership
from goldenpath.auth.models import Principal, Role
from goldenpath.errors import Forbidden
from goldenpath.secrets.model import SecretScope

__all__ = ["PREFIX", "SET_MAX", "router"]

PREFIX = "/api/secrets/v1"
#: values one ``POST /secrets`` may set (one transaction; 20,000 took 12 s)
SET_MAX = 1000
router = APIRouter(prefix=PREFIX, tags=["secrets"])

_Label = Annotated[str | None, Query(max_length=63)]


def _scope(service: str | None, environment: str | None) -> SecretScope:
    return SecretScope(service=service or None, environment=environment or None)


class SecretInput(BaseModel):
    """Body of ``PUT /secrets/{name}``: the value and the scope (absent = all)."""

    model_config = ConfigDict(extra="forbid")

    value: str
    service: str | None = Field(default=None, max_length=63)
    environment: str | None = Field(default=None, max_length=40)


class SecretsInput(BaseModel):
    """Body of ``POST /secrets``: several values of one scope, stored all or none."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, str] = Field(min_length=1, max_length=SET_MAX)
    service: str | None = Field(default=None, max_length=63)
    environment: str | None = Field(default=None, max_length=40)


class RotateInput(BaseModel):
    """Body of ``POST /rotate``: one ``name`` or ``all`` (in a scope, or every scope)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    all: bool = False
    service: str | None = Field(default=None, max_length=63)
    environment: str | None = Field(default=None, max_length=40)


def _check_owner(svc: Services, who: Principal, service: str | None) -> None:
    """Members change a service's secrets only when their groups own it (``_ownership``);
    scopes without a service are not a service's."""
    if service:
        _ownership.require_owner(svc, who, service, action="change the secrets of")


@router.get("/secrets", summary="Secrets (metadata, never values)")
def list_secrets(
    svc: ServicesDep,
    _who: ReaderDep,
    service: _Label = None,
    environment: _Label = None,
    all: bool | None = None,
) -> list[dict[str, Any]]:
    """``[SecretMeta]`` ordered by scope then name."""
    every = all if all is not None else not (service or environment)
    metas = svc.secrets.list(
        service=service or None, environment=environment or None, all_scopes=every
    )
    return [m.to_dict() for m in metas]


@router.put("/secrets/{name}", summary="Set a secret (adds a version)")
def put_secret(name: str, body: SecretInput, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """The new version's SecretMeta; 400 for a bad name, scope or value (never echoed)."""
    scope = _scope(body.service, body.environment)
    _check_owner(svc, who, scope.service)
    return svc.secrets.set(name, body.value, scope=scope, actor=who.user).to_dict()


@router.post("/secrets", summary="Set several secrets of one scope at once")
def post_secrets(body: SecretsInput, svc: ServicesDep, who: PrincipalDep) -> list[dict[str, Any]]:
    """``[SecretMeta]`` in the given order; nothing is stored when one entry is invalid."""
    scope = _scope(body.service, body.environment)
    _check_owner(svc, who, scope.service)
    metas = svc.secrets.set_many(body.values, scope=scope, actor=who.user)
    return [m.to_dict() for m in metas]


@router.get("/secrets/{name}/versions", summary="Versions of a secret (metadata)")
def secret_versions(
    name: str,
    svc: ServicesDep,
    _who: ReaderDep,
    service: _Label = None,
    environment: _Label = None,
) -> list[dict[str, Any]]:
    """``[SecretMeta]`` newest first; 404 when the secret does not exist in the scope."""
    return [m.to_dict() for m in svc.secrets.versions(name, scope=_scope(service, environment))]


@router.get("/secrets/{name}/value", summary="Reveal a secret's value (admin)")
async def reveal_secret(
    name: str,
    request: Request,
    svc: ServicesDep,
    who: ReaderDep,
    service: _Label = None,
    environment: _Label = None,
) -> dict[str, Any]:
    """SecretMeta plus ``value``; 403 unless the token is an admin's. Audited."""
    if who.role is not Role.ADMIN:
        raise Forbidden(
            f"{who.user}: revealing a secret's value needs an admin token (yours is "
            f"{who.role.value}); `platform secrets list` shows names and versions without values"
        )
    scope = _scope(service, environment)

    def reveal() -> dict[str, Any]:
        meta, value = svc.secrets.read(name, scope=scope)
        svc.auth.record(principal=who, action="REVEAL secret", target=request.url.path, outcome=200)
        return {**meta.to_dict(), "value": value}

    return await run_in_threadpool(reveal)


@router.delete("/secrets/{name}", summary="Delete a secret with all its versions")
def delete_secret(
    name: str,
    svc: ServicesDep,
    who: PrincipalDep,
    service: _Label = None,
    environment: _Label = None,
) -> dict[str, Any]:
    """``{name, service, environment, deleted: true}``; 404 when it does not exist."""
    scope = _scope(service, environment)
    _check_owner(svc, who, scope.service)
    svc.secrets.delete(name, scope=scope, actor=who.user)
    return {"name": name, **scope.to_dict(), "deleted": True}


@router.post("/rotate", summary="Rotate one secret or all of a scope")
def rotate(body: RotateInput, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """``{results: [{name, service, environment, outcome, valueChanged, previousVersion,
    version, message}], redeployments: [{id, service, environment}]}``; ``outcome``:
    ``new-value`` | ``re-encrypted`` | ``skipped``. Every deployed service that gets a new
    value is redeployed (rolling, no downtime)."""
    given = body.service or body.environment
    scope = _scope(body.service, body.environment) if (given or not body.all) else None
    if scope is None and who.role is not Role.ADMIN:
        raise Forbidden(
            f"{who.user}: rotating the secrets of every scope needs an admin token; "
            "pass service (and environment) to rotate your service's secrets"
        )
    _check_owner(svc, who, scope.service if scope is not None else None)
    results = svc.secrets.rotate(body.name, scope=scope, actor=who.user, all=body.all)
    redeployed = svc.deploy.redeploy_rotated(results, actor=who.user)
    return {
        "results": [r.to_dict() for r in results],
        "redeployments": [
            {"id": d.id, "service": d.service, "environment": d.environment} for d in redeployed
        ],
    }


@router.post("/rotate-master-key", summary="Rotate the master key (admin)")
def rotate_master_key(svc: ServicesDep, who: AdminDep) -> dict[str, Any]:
    """``{rewrapped: <rows>, keyId: <current key id>}``; every data key re-wrapped."""
    count = svc.secrets.rotate_master_key(actor=who.user)
    ring = getattr(svc.secrets.backend, "keyring", None)
    return {"rewrapped": count, "keyId": ring.current if ring is not None else None}
