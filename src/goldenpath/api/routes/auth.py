"""``/api/auth``: tokens and whoami; ``/api/audit``: the audit log (admin only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from goldenpath.api.deps import AdminDep, PrincipalDep, ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["auth"])


class TokenCreate(BaseModel):
    """Body of ``POST /api/auth/tokens``."""

    owner: str = Field(description="entity ref of an existing User, e.g. user:default/jane")
    role: str = Field(default="member", description="admin | member | viewer")
    name: str = Field(description="what the token is for, e.g. 'ci'", min_length=1, max_length=200)
    expiresInDays: float | None = Field(default=None, gt=0, le=3650)


@router.post("/api/auth/tokens", status_code=201, summary="Create a token (admin)")
def create_token(body: TokenCreate, svc: ServicesDep, _who: AdminDep) -> dict[str, Any]:
    """Returns ``{"token": "gp_…", ...info}``; the secret is shown only here, once."""
    created = svc.auth.create_token(
        owner=body.owner,
        role=body.role,
        name=body.name,
        expires_in=timedelta(days=body.expiresInDays) if body.expiresInDays else None,
    )
    return {"token": created.token, **created.info.to_json()}


@router.get("/api/auth/tokens", summary="List tokens without secrets (admin)")
def list_tokens(
    svc: ServicesDep,
    _who: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """``{"items": [...], "nextCursor": id | null}`` ordered by id."""
    items = svc.auth.list_tokens(limit=limit, after=after)
    return {
        "items": [t.to_json() for t in items],
        "nextCursor": items[-1].id if len(items) == limit else None,
    }


@router.delete("/api/auth/tokens/{token_id}", status_code=204, summary="Revoke a token (admin)")
def revoke_token(token_id: str, svc: ServicesDep, _who: AdminDep) -> Response:
    """204 on success; 404 problem when no token has that id."""
    svc.auth.revoke_token(token_id)
    return Response(status_code=204)


@router.get("/api/auth/whoami", summary="The caller's user, role and token")
def whoami(who: PrincipalDep) -> dict[str, Any]:
    """``{"user", "role", "tokenId", "tokenName"}``."""
    return {
        "user": who.user,
        "role": who.role.value,
        "tokenId": who.token_id,
        "tokenName": who.token_name,
    }


@router.get("/api/audit", summary="Audit log, newest first (admin)")
def audit(
    svc: ServicesDep,
    _who: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(description="continue below this id")] = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """``{"items": [{id, at, actor, tokenId, action, target, outcome}], "nextCursor"}``."""
    items = svc.auth.list_audit(limit=limit, before=before, actor=actor)
    return {
        "items": [e.to_json() for e in items],
        "nextCursor": items[-1].id if len(items) == limit else None,
    }
