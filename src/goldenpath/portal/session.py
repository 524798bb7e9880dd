"""Portal sessions: who is looking at a page (``Viewer``), sign-in cookies, CSRF checks.

A sign-in (local password or OIDC) creates an API token for the user (role from the user's
account, expiry ``settings.portal.session_max_age``, name ``portal session``) and keeps it in
the ``gp_session`` cookie: HttpOnly, SameSite=Lax, Secure when
``settings.portal.secure_cookies``, signed with itsdangerous under the key in
``<home>/keys/portal-session.key`` (32 random bytes, mode 0600, created at first use). Every
page authenticates that token exactly as the API authenticates a bearer token, so the portal
has the API's permissions and a revoked token ends the session.

CSRF: each session carries a random token; forms send it as the ``csrf_token`` field (htmx
requests as the ``X-CSRF-Token`` header, which ``base.html`` sets). The sign-in form, which
has no session yet, is protected the same way by a signed pre-session cookie.

Dependencies for routes: ``ViewerDep`` (signed in, else a 303 to ``/login?next=<path>``),
``OptionalViewerDep`` (None when signed out) and ``CsrfDep`` (``ViewerDep`` plus the CSRF
check; a 403 page otherwise). They set ``request.state.viewer`` (what ``render`` shows) and
``request.state.principal`` (what the audit log records).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from goldenpath.api.deps import Services
from goldenpath.auth.models import Principal, Role
from goldenpath.auth.permissions import groups_of, may_act
from goldenpath.auth.users import SESSION_TOKEN_NAME, create_session_token
from goldenpath.errors import Forbidden, NotFound, PlatformError, Unauthorized
from goldenpath.settings import Settings

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PRESESSION_COOKIE",
    "SESSION_COOKIE",
    "SESSION_TOKEN_NAME",
    "CsrfDep",
    "LoginRequired",
    "OptionalViewerDep",
    "Viewer",
    "ViewerDep",
    "app_singleton",
    "check_login_csrf",
    "csrf_viewer",
    "end_session",
    "login_csrf",
    "optional_viewer",
    "safe_next",
    "services_of",
    "session_key_file",
    "start_session",
    "viewer",
]

SESSION_COOKIE = "gp_session"
PRESESSION_COOKIE = "gp_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_PRESESSION_MAX_AGE = 3600
#: seconds a viewer's catalog facts (display name, groups) are reused for one token
_FACTS_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person looking at a page.

    ``user`` is their User entity ref (``user:default/jane``), ``name`` a display name,
    ``groups`` the lower-case group refs they are a member of (catalog ``memberOf``),
    ``csrf_token`` the value forms must send back.
    """

    principal: Principal
    user: str
    name: str
    groups: tuple[str, ...]
    csrf_token: str

    @property
    def role(self) -> str:
        """``admin`` | ``member`` | ``viewer``."""
        return self.principal.role.value

    @property
    def is_admin(self) -> bool:
        """True for an admin session."""
        return self.principal.role is Role.ADMIN

    def can_act_on(self, owner: str | None) -> bool:
        """Whether this viewer may change something owned by ``owner`` (``team-a``,
        ``group:default/team-a``, ``user:default/jane``; None = unowned): admins always,
        members of the owning group or the owner, never viewers
        (:func:`goldenpath.auth.permissions.may_act`)."""
        return may_act(self.principal, owner, self.groups)


class LoginRequired(Exception):
    """Raised by :func:`viewer` when nobody is signed in; the portal answers with a 303 to
    ``/login?next=<next_path>`` (``HX-Redirect`` for htmx requests)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    def location(self) -> str:
        """``/login?next=<quoted path>``."""
        return "/login?next=" + quote(self.next_path, safe="/")


def services_of(request: Request) -> Services:
    """The app's :class:`~goldenpath.api.deps.Services`."""
    svc: Services = request.app.state.services
    return svc


T = TypeVar("T")
_APP_STATE_LOCK = threading.RLock()  # re-entrant: a factory may need another singleton


def app_singleton(request: Request, name: str, create: Callable[[], T]) -> T:
    """``request.app.state.<name>``, made by ``create()`` at first use: one per app,
    created once even when concurrent requests ask for it first."""
    state = request.app.state
    found = getattr(state, name, None)
    if found is None:
        with _APP_STATE_LOCK:
            found = getattr(state, name, None)
            if found is None:
                found = create()
                setattr(state, name, found)
    return cast(T, found)


def session_key_file(settings: Settings) -> Path:
    """``<home>/keys/portal-session.key``."""
    return settings.home / "keys" / "portal-session.key"


def _load_or_create_key(path: Path) -> bytes:
    """The key in ``path``, created (32 random bytes hex, mode 0600; parents 0700) when
    missing. ``O_EXCL`` makes concurrent first starts agree on one key."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_hex(32).encode("ascii") + b"\n")
    finally:
        os.close(fd)
    return path.read_bytes().strip()


def _serializer(request: Request) -> URLSafeTimedSerializer:
    def create() -> URLSafeTimedSerializer:
        key = _load_or_create_key(session_key_file(services_of(request).settings))
        return URLSafeTimedSerializer(key, salt="goldenpath.portal")

    return app_singleton(request, "portal_serializer", create)


def _cookie_args(settings: Settings, max_age: int) -> dict[str, Any]:
    return {
        "max_age": max_age,
        "httponly": True,
        "samesite": "lax",
        "secure": settings.portal.secure_cookies,
        "path": "/",
    }


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site (``/catalog?x=1``), else ``/``: sign-in
    never redirects to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# -- sign-in form CSRF (before a session exists) ----------------------------------------------


def login_csrf(request: Request, response: Response) -> str:
    """The sign-in form's CSRF token; sets the signed pre-session cookie on ``response``
    when the request has none (or a stale one)."""
    signer = _serializer(request)
    raw = request.cookies.get(PRESESSION_COOKIE)
    if raw:
        try:
            token = str(signer.loads(raw, max_age=_PRESESSION_MAX_AGE, salt="presession"))
            return token
        except BadSignature:
            pass
    token = secrets.token_urlsafe(24)
    settings = services_of(request).settings
    response.set_cookie(
        PRESESSION_COOKIE,
        signer.dumps(token, salt="presession"),
        **_cookie_args(settings, _PRESESSION_MAX_AGE),
    )
    return token


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """Check the sign-in form's ``csrf_token`` against the pre-session cookie.

    Raises:
        Forbidden: missing or different (the page is stale or came from another site).
    """
    raw = request.cookies.get(PRESESSION_COOKIE)
    expected = None
    if raw:
        try:
            expected = str(
                _serializer(request).loads(raw, max_age=_PRESESSION_MAX_AGE, salt="presession")
            )
        except BadSignature:
            expected = None
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden(_CSRF_MESSAGE)


_CSRF_MESSAGE = (
    "the form's security token is missing or stale (CSRF check failed); reload the page "
    "and submit the form again"
)


# -- sessions ---------------------------------------------------------------------------------


def start_session(request: Request, response: Response, *, user: str, role: Role | str) -> None:
    """Sign ``user`` in: create their ``portal session`` token (expiry
    ``session_max_age``) and set the session cookie on ``response``; drops the
    pre-session cookie."""
    svc = services_of(request)
    max_age = svc.settings.portal.session_max_age
    created = create_session_token(
        svc.auth, owner=user, role=role, name=SESSION_TOKEN_NAME, max_age=max_age
    )
    payload = {"t": created.token, "c": secrets.token_urlsafe(24)}
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(request).dumps(payload, salt="session"),
        **_cookie_args(svc.settings, max_age),
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def _session(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    max_age = services_of(request).settings.portal.session_max_age
    try:
        payload = _serializer(request).loads(raw, max_age=max_age, salt="session")
    except BadSignature:
        return None
    if not isinstance(payload, dict) or not payload.get("t") or not payload.get("c"):
        return None
    return {"t": str(payload["t"]), "c": str(payload["c"])}


def end_session(request: Request, response: Response) -> None:
    """Sign out: revoke the session's token (when it is still valid) and clear the cookie."""
    session = _session(request)
    if session is not None:
        svc = services_of(request)
        try:
            who = svc.auth.authenticate(session["t"])
            svc.auth.revoke_token(who.token_id)
        except (Unauthorized, NotFound):
            pass
    response.delete_cookie(SESSION_COOKIE, path="/")


# -- the viewer ---------------------------------------------------------------------------------


_FACTS_LOCK = threading.Lock()


def _facts(request: Request, who: Principal) -> tuple[str, tuple[str, ...]]:
    """(display name, groups) of ``who`` from the catalog, reused for ``_FACTS_TTL`` s."""
    state = request.app.state
    cache: dict[str, tuple[float, str, tuple[str, ...]]] | None = getattr(
        state, "portal_viewer_facts", None
    )
    if cache is None:
        cache = {}
        state.portal_viewer_facts = cache
    now = time.monotonic()
    with _FACTS_LOCK:
        hit = cache.get(who.token_id)
    if hit is not None and now - hit[0] < _FACTS_TTL:
        return hit[1], hit[2]
    catalog = services_of(request).catalog
    name = who.user.rpartition("/")[2]
    try:
        entity = catalog.get_entity_by_ref(who.user)
    except PlatformError:
        entity = None
    if entity is not None:
        profile = (entity.get("spec") or {}).get("profile") or {}
        name = str(
            profile.get("displayName") or (entity.get("metadata") or {}).get("title") or name
        )
    groups = groups_of(catalog, who.user)
    with _FACTS_LOCK:
        if len(cache) > 4096:
            cache.clear()
        cache[who.token_id] = (now, name, groups)
    return name, groups


async def optional_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (no, a bad, an expired or a revoked session)."""
    if hasattr(request.state, "viewer"):
        found: Viewer | None = request.state.viewer
        return found
    session = _session(request)
    result: Viewer | None = None
    if session is not None:
        auth = services_of(request).auth
        try:
            who = auth.authenticate_cached(session["t"])
            if who is None:
                who = await run_in_threadpool(auth.authenticate, session["t"])
        except Unauthorized:
            who = None
        if who is not None:
            name, groups = await run_in_threadpool(_facts, request, who)
            result = Viewer(
                principal=who, user=who.user, name=name, groups=groups, csrf_token=session["c"]
            )
            request.state.principal = who
    request.state.viewer = result
    return result


OptionalViewerDep = Annotated[Viewer | None, Depends(optional_viewer)]


async def viewer(request: Request, found: OptionalViewerDep) -> Viewer:
    """The signed-in viewer.

    Raises:
        LoginRequired: nobody is signed in (the portal redirects to the sign-in page).
    """
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method not in ("GET", "HEAD"):
            path = "/"  # a form POST cannot be replayed after signing in
        raise LoginRequired(path)
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def csrf_viewer(request: Request, who: ViewerDep) -> Viewer:
    """:func:`viewer` plus the CSRF check of a form POST (``csrf_token`` field or
    ``X-CSRF-Token`` header must equal the session's token).

    Raises:
        LoginRequired: nobody is signed in.
        Forbidden: the token is missing or wrong (the portal shows a 403 page).
    """
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not submitted or not hmac.compare_digest(submitted, who.csrf_token):
        raise Forbidden(_CSRF_MESSAGE)
    return who


CsrfDep = Annotated[Viewer, Depends(csrf_viewer)]
