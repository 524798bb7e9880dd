"""Liveness, readiness, metrics and the OpenAPI document.

``/healthz`` and ``/readyz`` are open (load balancers and the CLI probe them without a
token). ``/metrics`` and ``/openapi.json`` require a token of any role: Prometheus scrapes
with ``authorization: {credentials: <token>}`` in its scrape config.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

import goldenpath.store.migrate as migrate_module
from goldenpath.api.deps import PrincipalDep, ServicesDep

__all__ = ["head_revisions", "router"]

router = APIRouter(tags=["health"])


def head_revisions() -> set[str]:
    """The Alembic head revision(s) this code expects (e.g. ``{"0002_auth"}``)."""
    cfg = Config()
    scripts = Path(migrate_module.__file__).with_name("migrations")
    cfg.set_main_option("script_location", str(scripts))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def _current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return set(MigrationContext.configure(conn).get_current_heads())


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and migrated to head")
def readyz(request: Request, svc: ServicesDep) -> JSONResponse:
    """200 ``{"status": "ready", ...}`` or 503 problem+json naming what is missing."""
    expected: set[str] = request.app.state.head_revisions
    try:
        current = _current_revisions(svc.engine)
    except Exception as e:  # the database is down: say so, without internals
        return _not_ready(request, f"database unreachable ({type(e).__name__})")
    if current != expected:
        return _not_ready(
            request,
            f"database at revision {sorted(current)}, expected {sorted(expected)}; restart the "
            "server to migrate",
        )
    return JSONResponse({"status": "ready", "database": "ok", "revision": sorted(current)})


def _not_ready(request: Request, detail: str) -> JSONResponse:
    from goldenpath.api.problems import problem_response

    return problem_response(
        status=503,
        title="Unavailable",
        code="unavailable",
        detail=detail,
        instance=request.url.path,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
def metrics(svc: ServicesDep, _who: PrincipalDep) -> Response:
    """Request counts and latency by route template and status; entity counts by kind."""
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _who: PrincipalDep) -> JSONResponse:
    """The OpenAPI 3 document of this API."""
    return JSONResponse(request.app.openapi())
