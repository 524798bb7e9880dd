"""RFC 9457 problem details: every error response of the API, mapped in one place.

Body: ``{"type", "title", "status", "detail", "instance"}`` plus the error's ``details``
members at the top level (e.g. ``errors: [{"path", "message"}]`` — the member
``@backstage/catalog-client``'s ``validateEntity`` reads). Media type
``application/problem+json``. Unexpected exceptions become a 500 without internals.

Spec: https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from goldenpath.errors import PlatformError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "install_exception_handlers",
    "problem_response",
    "status_problem",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "urn:goldenpath:problem:"
_log = logging.getLogger(__name__)

_HTTP_TITLES = {
    400: ("Invalid input", "invalid_input"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not_found"),
    405: ("Method not allowed", "method_not_allowed"),
    409: ("Conflict", "conflict"),
    413: ("Content too large", "too_large"),
    500: ("Internal server error", "internal"),
}


def problem_response(
    *,
    status: int,
    title: str,
    code: str,
    detail: str,
    instance: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build one problem+json response; ``extra`` members never override the standard ones."""
    body: dict[str, Any] = dict(extra or {})
    body.update(
        type=_TYPE_BASE + code, title=title, status=status, detail=detail, instance=instance
    )
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="goldenpath"', **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _platform_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlatformError)
    return problem_response(
        status=exc.status,
        title=exc.title,
        code=exc.code,
        detail=exc.message,
        instance=request.url.path,
        extra=exc.details,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"path": ".".join(str(part) for part in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
    return problem_response(
        status=400,
        title="Invalid input",
        code="invalid_input",
        detail=f"the request does not match the API schema: {summary}",
        instance=request.url.path,
        extra={"errors": errors},
    )


def status_problem(
    status: int,
    detail: str | None,
    *,
    instance: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The problem for an HTTP ``status`` (title and type from the status; ``detail`` None:
    the title) — what HTTP errors and the request-body checks (``api.bodies``) answer."""
    title, code = _HTTP_TITLES.get(status, ("HTTP error", f"http_{status}"))
    return problem_response(
        status=status,
        title=title,
        code=code,
        detail=detail if detail is not None else title,
        instance=instance,
        extra=extra,
        headers=headers,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /openapi.json"
    return status_problem(
        exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        status=500,
        title="Internal server error",
        code="internal",
        detail="the server failed unexpectedly; the error is in the server log",
        instance=request.url.path,
    )


def install_exception_handlers(app: FastAPI) -> None:
    """Register the handlers once, in the app factory."""
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
