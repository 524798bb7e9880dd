"""``/api/auth``: tokens, whoami and local users; ``/api/audit``: the audit log (admin only).

Local users (portal accounts with a password, :mod:`goldenpath.auth.users`):

- ``GET /api/auth/users`` (admin) → ``{"items": [{user, role, disabled, hasPassword,
  createdAt, updatedAt, firstLoginAt, lastLoginAt}]}``
- ``POST /api/auth/users`` (admin) ``{user, role?, password?}`` → 201 the user; 409 when it
  exists; 400 when ``user`` is not a catalog User or the password is too short
- ``GET /api/auth/users/{user}`` (admin, or the user) → the user
- ``PUT /api/auth/users/{user}/password`` (admin, or the user) ``{password}`` → the user
- ``POST /api/auth/users/{user}/disable`` | ``/enable`` (admin) → the user (disabling also
  revokes the user's portal sessions)

``{user}`` is ``jane`` or ``user:default/jane``. Passwords are never echoed or logged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from goldenpath.api.deps import AdminDep, PrincipalDep, ReaderDep, Services, ServicesDep
from goldenpath.api.ids import MAX_ID
from goldenpath.auth.models import Principal, Role
from goldenpath.auth.users import (
    MAX_PASSWORD,
    UserService,
    normalise_user_ref,
    revoke_sessions,
)
from goldenpath.errors import Forbidden, NotFound

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
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="continue below this id")
    ] = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """``{"items": [{id, at, actor, tokenId, action, target, outcome}], "nextCursor"}``."""
    items = svc.auth.list_audit(limit=limit, before=before, actor=actor)
    return {
        "items": [e.to_json() for e in items],
        "nextCursor": items[-1].id if len(items) == limit else None,
    }


class UserCreate(BaseModel):
    """Body of ``POST /api/auth/users``."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=500, description="jane or user:default/jane")
    role: str | None = Field(default=None, description="admin | member | viewer")
    password: str | None = Field(default=None, max_length=MAX_PASSWORD)


class PasswordInput(BaseModel):
    """Body of ``PUT /api/auth/users/{user}/password``."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=MAX_PASSWORD)


def _users(svc: Services) -> UserService:
    def exists(ref: str) -> bool:
        try:
            svc.catalog.get_entity_by_ref(ref)
        except NotFound:
            return False
        return True

    return UserService(engine=svc.engine, user_exists=exists)


def _self_or_admin(who: Principal, user: str) -> str:
    ref = normalise_user_ref(user)
    if who.role is not Role.ADMIN and who.user != ref:
        raise Forbidden(f"{who.user}: only an admin or {ref} may do this")
    return ref


@router.get("/api/auth/users", summary="Local users (admin)")
def list_users(svc: ServicesDep, _who: AdminDep) -> dict[str, Any]:
    """``{"items": [User]}`` ordered by user ref; no password hashes."""
    return {"items": [u.to_json() for u in _users(svc).list_users()]}


@router.post("/api/auth/users", status_code=201, summary="Create a local user (admin)")
def create_user(body: UserCreate, svc: ServicesDep, _who: AdminDep) -> JSONResponse:
    """201 the user; 400 not a catalog User or bad password/role, 409 it exists."""
    made = _users(svc).create(body.user, role=body.role, password=body.password)
    return JSONResponse(made.to_json(), status_code=201)


@router.put("/api/auth/users/{user:path}/password", summary="Set a user's password")
def set_password(
    user: str, body: PasswordInput, svc: ServicesDep, who: ReaderDep
) -> dict[str, Any]:
    """The user; 400 for a too short password, 403 for someone else's (not admin), 404 no
    such local user. Any role may change its own password."""
    ref = _self_or_admin(who, user)
    return _users(svc).set_password(ref, body.password).to_json()


@router.post("/api/auth/users/{user:path}/disable", summary="Disable a local user (admin)")
def disable_user(user: str, svc: ServicesDep, _who: AdminDep) -> dict[str, Any]:
    """The user, disabled; their portal sessions are revoked at once."""
    done = _users(svc).set_disabled(user, True)
    revoke_sessions(svc.auth, done.ref)
    return done.to_json()


@router.post("/api/auth/users/{user:path}/enable", summary="Re-enable a local user (admin)")
def enable_user(user: str, svc: ServicesDep, _who: AdminDep) -> dict[str, Any]:
    """The user, enabled again."""
    return _users(svc).set_disabled(user, False).to_json()


@router.get("/api/auth/users/{user:path}", summary="One local user (admin, or the user)")
def get_user(user: str, svc: ServicesDep, who: ReaderDep) -> dict[str, Any]:
    """The user; 404 when there is no local account."""
    return _users(svc).get(_self_or_admin(who, user)).to_json()
