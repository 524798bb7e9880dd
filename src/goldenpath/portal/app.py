"""The platform's web application: the API with the portal mounted beside it.

``create_app(settings, **kwargs)`` builds :func:`goldenpath.api.app.create_app` and, when
``settings.portal.enabled``, adds the portal's pages, static assets and HTML error pages.
``platform server`` serves this app; tests of the API alone may keep using the API factory.

Static files: ``/static/*`` is ``portal/static`` (the portal's own CSS); ``/static/vendor/*``
is ``portal/assets/node_modules`` (Pico CSS and htmx, installed by ``npm ci`` at setup, never
copied into the repository). Errors: a ``PlatformError`` (or an HTTP error) on a portal path
renders ``error.html`` with its status and message; API paths keep problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from goldenpath.api.app import create_app as create_api_app
from goldenpath.errors import PlatformError, Unauthorized
from goldenpath.portal.session import LoginRequired, optional_viewer
from goldenpath.portal.web import render
from goldenpath.settings import Settings

__all__ = ["API_PREFIXES", "STATIC_DIR", "VENDOR_DIR", "create_app", "is_api_path", "mount_portal"]

_log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = Path(__file__).parent / "assets" / "node_modules"
#: paths whose errors stay problem+json (the API's, the probes', the metrics')
API_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")

Handler = Callable[[Request, Exception], Awaitable[Response]]

_TITLES = {
    400: "Invalid input",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    500: "Something went wrong",
    503: "Unavailable",
}


def create_app(settings: Settings, **kwargs: Any) -> FastAPI:
    """The API app (same arguments as :func:`goldenpath.api.app.create_app`) with the portal."""
    app = create_api_app(settings, **kwargs)
    if settings.portal.enabled:
        mount_portal(app)
    return app


def is_api_path(path: str) -> bool:
    """True for the API's paths (their errors stay problem+json)."""
    return path == "/api" or path.startswith(API_PREFIXES)


def mount_portal(app: FastAPI) -> None:
    """Add the portal's routers, ``/static`` assets and error pages to ``app``."""
    from goldenpath.portal.routes import ROUTERS

    settings: Settings = app.state.services.settings
    if not (VENDOR_DIR / "@picocss").is_dir():
        _log.warning(
            "%s is missing: the portal runs unstyled; run `npm ci` there (scripts/setup.sh does)",
            VENDOR_DIR,
        )
    app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR, check_dir=False), "vendor")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), "static")
    if settings.portal.oidc.metadata_url:
        _add_oidc_state(app, settings)
    for router in ROUTERS:
        app.include_router(router)
    _install_error_pages(app)


def _add_oidc_state(app: FastAPI, settings: Settings) -> None:
    """authlib keeps the OIDC ``state``/``nonce`` in Starlette's session (a signed cookie
    ``gp_oidc`` that lives 10 minutes); only added when OIDC is configured."""
    from starlette.middleware.sessions import SessionMiddleware

    from goldenpath.portal.session import _load_or_create_key, session_key_file

    key = _load_or_create_key(session_key_file(settings)).decode("ascii")
    app.add_middleware(
        SessionMiddleware,
        secret_key=key + ":oidc",
        session_cookie="gp_oidc",
        max_age=600,
        same_site="lax",
        https_only=settings.portal.secure_cookies,
    )


def _install_error_pages(app: FastAPI) -> None:
    """HTML error pages for portal paths; the API's handlers answer API paths."""
    api_handlers: dict[Any, Handler] = dict(app.exception_handlers)

    def dispatch(kind: type[Exception]) -> Handler:
        fallback = api_handlers.get(kind)

        async def handle(request: Request, exc: Exception) -> Response:
            if is_api_path(request.url.path) and fallback is not None:
                return await fallback(request, exc)
            return await _error_page(request, exc)

        return handle

    for kind in (PlatformError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, dispatch(kind))
    app.add_exception_handler(LoginRequired, _login_required)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": exc.location()})
    return RedirectResponse(exc.location(), status_code=303)


async def _error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unauthorized):  # e.g. the session's token was revoked meanwhile
        return await _login_required(request, LoginRequired(request.url.path))
    try:  # show who is signed in on the error page too
        await optional_viewer(request)
    except Exception:
        request.state.viewer = None
    if isinstance(exc, PlatformError):
        status, message = exc.status, exc.message
    elif isinstance(exc, RequestValidationError):
        status = 400
        message = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
            for err in exc.errors()[:5]
        )
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "Error")
        if status == 404:
            message = f"There is no page at {request.url.path}."
    else:
        _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        status, message = 500, "The server failed unexpectedly; the error is in the server log."
    title = getattr(exc, "title", None) if isinstance(exc, PlatformError) else None
    context = {
        "title": _TITLES.get(status) or title or "Error",
        "status": status,
        "message": message,
        "path": request.url.path,
    }
    return render(request, "error.html", context, status_code=status)
