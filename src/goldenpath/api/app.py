"""The app factory: ``create_app(settings) -> FastAPI``.

Builds the engine, migrates the database to head, builds the services, runs the first-start
steps (organisation catalog + admin token) and publishes the built-in templates, registers the
problem+json handlers once, the metrics/audit middleware, the routers, and — in the lifespan —
starts the catalog refresh loop, the scaffolder's task workers (which first fail the tasks a
dead server left behind) and the deploy reconciler, and stops them on shutdown. Deployed
services' processes (run by the runtime driver) are never stopped at shutdown: they outlive
the server, and the next one adopts them. No module-level app, nothing happens at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import goldenpath
from goldenpath.api import bootstrap
from goldenpath.api.bodies import RequestBodyGuard
from goldenpath.api.deps import READ_ONLY_POSTS, Services
from goldenpath.api.metrics import RequestObserver
from goldenpath.api.problems import install_exception_handlers
from goldenpath.api.routes import auth as auth_routes
from goldenpath.api.routes import (
    catalog_entities,
    catalog_locations,
    deploy,
    environments,
    health,
    scaffolder,
)
from goldenpath.api.routes import insights as insights_routes
from goldenpath.api.routes import policy as policy_routes
from goldenpath.api.routes import resources as resources_routes
from goldenpath.api.routes import secrets as secrets_routes
from goldenpath.api.wiring import build_services
from goldenpath.auth.service import AuthService
from goldenpath.catalog.refresher import Refresher
from goldenpath.settings import Settings

__all__ = ["create_app"]

_log = logging.getLogger(__name__)

#: seconds between writes of tokens' last-use times (kept off the request path)
USAGE_FLUSH_INTERVAL = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    start_refresher: bool = True,
    start_workers: bool = True,
) -> FastAPI:
    """Build the API application for ``settings``.

    Args:
        settings: the settings tree (data directory, database URL, catalog options).
        clock: current UTC time for tokens and audit rows (tests inject one).
        start_refresher: start the catalog refresh loop in the lifespan (when
            ``settings.catalog.refresh_interval`` > 0).
        start_workers: start the scaffolder's task workers and the deploy reconciler (when
            ``settings.deploy.reconcile_interval`` > 0) in the lifespan.

    Raises:
        PlatformError: the database cannot be migrated or the first start failed.
    """
    svc = build_services(settings, clock)
    bootstrap.first_start(settings=settings, auth=svc.auth, catalog=svc.catalog)
    bootstrap.publish_builtin_templates(
        settings=settings, catalog=svc.catalog, githost=svc.scaffolder.githost
    )
    app = FastAPI(
        title="goldenpath",
        version=getattr(goldenpath, "__version__", "0.1.0"),
        summary="Internal Developer Platform API: Backstage-compatible catalog and software "
        "templates, deployments and environments, auth, audit.",
        lifespan=_lifespan(svc, start_refresher, start_workers),
        openapi_url=None,  # served by routes.health behind a token
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = svc
    app.state.head_revisions = health.head_revisions()
    install_exception_handlers(app)
    # inside the observer: refusals are counted too
    app.add_middleware(RequestBodyGuard, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(
        RequestObserver, metrics=svc.metrics, audit=_audit_hook(svc.auth), read_only=READ_ONLY_POSTS
    )
    routers = (
        health,
        auth_routes,
        catalog_entities,
        catalog_locations,
        scaffolder,
        deploy,
        secrets_routes,
        resources_routes,
        policy_routes,
        insights_routes,
    )
    for module in (*routers, environments):
        app.include_router(module.router)
    insights_routes.register_gauges(svc)
    return app


def _audit_hook(auth: AuthService) -> Callable[[Any, str, str, int], None]:
    def hook(principal: Any, action: str, target: str, outcome: int) -> None:
        auth.record(principal=principal, action=action, target=target, outcome=outcome)

    return hook


def _lifespan(
    svc: Services, start_refresher: bool, start_workers: bool
) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        refresher = None
        if start_refresher and svc.settings.catalog.refresh_interval > 0:
            refresher = Refresher(svc.catalog, interval=svc.settings.catalog.refresh_interval)
            refresher.start()
        reconciler = start_workers and svc.settings.deploy.reconcile_interval > 0
        if start_workers:
            await run_in_threadpool(svc.scaffolder.start)
        if reconciler:
            await run_in_threadpool(svc.deploy.start)
        flusher = asyncio.create_task(_flush_usage_forever(svc.auth))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if reconciler:  # the reconciler only: deployed services keep running
                await run_in_threadpool(svc.deploy.stop)
            if start_workers:
                await run_in_threadpool(svc.scaffolder.stop)
            if refresher is not None:
                refresher.stop()
            _flush_usage(svc.auth)
            svc.engine.dispose()
            if svc.read_engine is not None:
                svc.read_engine.dispose()

    return lifespan


def _flush_usage(auth: AuthService) -> None:
    try:
        auth.flush_usage()
    except Exception:  # best effort: last-use times are informational
        _log.warning("could not write token last-use times", exc_info=True)


async def _flush_usage_forever(auth: AuthService) -> None:
    """Write tokens' last-use times every ``USAGE_FLUSH_INTERVAL`` seconds, in a worker thread."""
    while True:
        await asyncio.sleep(USAGE_FLUSH_INTERVAL)
        await run_in_threadpool(_flush_usage, auth)
