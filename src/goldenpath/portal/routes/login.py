"""Portal pages: sign-in and sign-out.

- ``GET /login?next=`` the sign-in form (user name + password; a single sign-on button when
  ``settings.portal.oidc.metadata_url`` is set)
- ``POST /login`` (form ``user``, ``password``, ``csrf_token``, ``next``) → 303 to ``next``
  with the session cookie, or the form again with 401 and a message that does not say which
  of name or password was wrong
- ``GET|POST /logout`` revokes the session's token, clears the cookie, 303 to ``/login``
- ``GET /login/oidc?next=`` → the provider's authorize URL (authlib, OpenID Connect
  authorization code flow); ``GET /login/oidc/callback`` exchanges the code, takes the user
  from ``preferred_username`` (else the local part of ``email``), creates a member account on
  first sign-in and starts the session.

Source: https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from goldenpath.auth.users import UserService
from goldenpath.errors import Forbidden, NotFound, Unauthorized
from goldenpath.portal.session import (
    OptionalViewerDep,
    app_singleton,
    check_login_csrf,
    end_session,
    login_csrf,
    safe_next,
    services_of,
    start_session,
)
from goldenpath.portal.web import render

__all__ = ["oidc_user_ref", "router"]

router = APIRouter(include_in_schema=False)

_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def _users(request: Request) -> UserService:
    svc = services_of(request)
    return UserService(engine=svc.engine)


def _form_page(
    request: Request,
    *,
    next_path: str,
    user: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    oidc = services_of(request).settings.portal.oidc
    response = Response()
    token = login_csrf(request, response)
    page = render(
        request,
        "login.html",
        {
            "title": "Sign in",
            "csrf_token": token,
            "next": next_path,
            "user": user,
            "error": error,
            "oidc_label": oidc.label if oidc.metadata_url else None,
        },
        status_code=status_code,
    )
    for key, value in response.headers.items():
        if key == "set-cookie":
            page.headers.append(key, value)
    return page


@router.get("/login", name="login")
async def login_page(
    request: Request, who: OptionalViewerDep, next: Annotated[str | None, Query()] = None
) -> Response:
    """The sign-in form; a signed-in viewer goes straight to ``next``."""
    target = safe_next(next)
    if who is not None:
        return RedirectResponse(target, status_code=303)
    return _form_page(request, next_path=target)


@router.post("/login")
async def login_submit(
    request: Request,
    user: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; 303 to ``next`` with the session cookie, else the form (401)."""
    check_login_csrf(request, csrf_token)
    target = safe_next(next)
    try:
        account = await run_in_threadpool(_users(request).verify, user, password)
    except Unauthorized as e:
        return _form_page(request, next_path=target, user=user, error=e.message, status_code=401)
    response = RedirectResponse(target, status_code=303)
    await run_in_threadpool(start_session, request, response, user=account.ref, role=account.role)
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    """Revoke the session's token and clear the cookie; 303 to the sign-in page."""
    response = RedirectResponse("/login", status_code=303)
    await run_in_threadpool(end_session, request, response)
    return response


# -- OpenID Connect ---------------------------------------------------------------------------


def oidc_user_ref(claims: dict[str, Any]) -> str:
    """The User ref of an OIDC sign-in: ``preferred_username``, else the local part of
    ``email``, as a lower-case entity name (``Jane.Doe@x`` → ``user:default/jane.doe``).

    Raises:
        Forbidden: the provider sent neither claim.
    """
    raw = str(claims.get("preferred_username") or "").strip()
    if not raw and claims.get("email"):
        raw = str(claims["email"]).partition("@")[0]
    if "@" in raw:
        raw = raw.partition("@")[0]
    name = _NAME_CHARS.sub("-", raw.lower()).strip("-._")[:63]
    if not name:
        raise Forbidden(
            "the identity provider sent neither preferred_username nor email; add the "
            "'profile' and 'email' scopes to portal.oidc.scope"
        )
    return f"user:default/{name}"


def _oidc_client(request: Request) -> Any:
    """The authlib Starlette client for the configured provider (built once per app)."""
    settings = services_of(request).settings.portal.oidc
    if not settings.metadata_url:
        raise NotFound(
            "single sign-on is not configured; set portal.oidc.metadata_url (and client_id, "
            "client_secret) in the settings"
        )

    def create() -> Any:
        from authlib.integrations.starlette_client import OAuth

        return OAuth().register(
            "portal",
            server_metadata_url=settings.metadata_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            client_kwargs={"scope": settings.scope},
        )

    return app_singleton(request, "portal_oidc_client", create)


@router.get("/login/oidc")
async def oidc_start(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    """Redirect to the provider's authorization endpoint (from its metadata document)."""
    client = _oidc_client(request)
    request.session["gp_next"] = safe_next(next)
    redirect_uri = str(request.url_for("oidc_callback"))
    response: Response = await client.authorize_redirect(request, redirect_uri)
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    """Finish the code flow and start the session; the sign-in form with a message when
    the provider refused or the account is disabled."""
    from authlib.integrations.base_client import OAuthError

    client = _oidc_client(request)
    target = safe_next(request.session.pop("gp_next", "/"))
    try:
        token = await client.authorize_access_token(request)
        claims = dict(token.get("userinfo") or await client.userinfo(token=token))
        ref = oidc_user_ref(claims)
    except (OAuthError, Forbidden) as e:
        message = getattr(e, "description", None) or getattr(e, "message", None) or str(e)
        return _form_page(
            request,
            next_path=target,
            error=f"single sign-on failed: {message}",
            status_code=401,
        )
    users = _users(request)
    account = await run_in_threadpool(users.find, ref)
    if account is None:
        account = await run_in_threadpool(users.create, ref)
    if account.disabled:
        return _form_page(
            request,
            next_path=target,
            error=f"user {ref!r}: this account is disabled; ask an admin",
            status_code=403,
        )
    await run_in_threadpool(users.note_sign_in, ref)
    response = RedirectResponse(target, status_code=303)
    await run_in_threadpool(start_session, request, response, user=account.ref, role=account.role)
    return response
