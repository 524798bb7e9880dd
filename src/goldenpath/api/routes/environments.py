"""``/api/deploy/v1/environments``: list, create (optionally ``from`` another, with a TTL),
clone (with the source's running versions) and delete environments.

- ``GET /environments`` → ``[Environment]`` (``{name, driver, settings, parent, ephemeral,
  expiresAt, createdAt, createdBy, status}``)
- ``POST /environments`` ``{name, from?, ttl?}`` → 201 the Environment
- ``POST /environments/{name}/clone`` ``{name, ttl?}`` → 201 the new Environment; the source's
  stable versions are deployed to it by the reconciler
- ``DELETE /environments/{name}`` → the Environment (everything running in it is torn down)

``ttl`` is seconds or a duration (``24h``, ``2d``); an environment with a TTL is ephemeral and
torn down once it expires. Any token may list; the rest needs a member or admin token.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from goldenpath.api.deps import PrincipalDep, ReaderDep, ServicesDep
from goldenpath.api.routes import _deploy_params
from goldenpath.api.routes.deploy import PREFIX

__all__ = ["router"]

router = APIRouter(prefix=f"{PREFIX}/environments", tags=["deploy"])


class EnvironmentInput(BaseModel):
    """Body of ``POST /environments``: ``from`` copies the source's settings (not its
    services; see ``clone``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=63)
    source: str | None = Field(default=None, alias="from", min_length=1, max_length=63)
    ttl: float | str | None = Field(default=None, description="seconds or a duration: 24h")
    driver: Literal["local", "kubernetes"] | None = Field(
        default=None, description="default: the source's, else local"
    )
    settings: dict[str, str] | None = Field(
        default=None, description="merged over the source's (kubernetes: gitops_repo, namespace…)"
    )


class CloneInput(BaseModel):
    """Body of ``POST /environments/{name}/clone``: the new environment's ``name``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    ttl: float | str | None = Field(default=None, description="seconds or a duration: 24h")


def _ttl(value: float | str | None) -> float | None:
    return None if value is None else _deploy_params.parse_duration(value, field="ttl")


@router.get("", summary="Environments")
def list_environments(svc: ServicesDep, _who: ReaderDep) -> list[dict[str, Any]]:
    """``[Environment]`` by name."""
    return [env.to_dict() for env in svc.deploy.list_environments()]


@router.post("", status_code=201, summary="Create an environment")
def create_environment(body: EnvironmentInput, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """201 the Environment; 400 for a bad name or TTL, 404 unknown ``from``, 409 it exists."""
    env = svc.deploy.create_environment(
        body.name,
        source=body.source,
        ttl=_ttl(body.ttl),
        actor=who.user,
        driver=body.driver,
        settings=body.settings,
    )
    return JSONResponse(env.to_dict(), status_code=201)


@router.post("/{name}/clone", status_code=201, summary="Clone an environment with its services")
def clone_environment(
    name: str, body: CloneInput, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """201 the new Environment; its services follow as deployments of the source's stable
    versions."""
    env = svc.deploy.clone_environment(name, body.name, ttl=_ttl(body.ttl), actor=who.user)
    return JSONResponse(env.to_dict(), status_code=201)


@router.delete("/{name}", summary="Delete an environment and everything running in it")
def delete_environment(name: str, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """The deleted Environment; 404 for an unknown name."""
    return svc.deploy.delete_environment(name, actor=who.user).to_dict()
