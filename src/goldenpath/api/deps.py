"""Request dependencies: the services of the running app and the authenticated principal.

Every route except ``/healthz`` and ``/readyz`` depends on :func:`principal` (or, for the
read-only POSTs in ``READ_ONLY_POSTS``, :func:`reader`), which reads
``Authorization: Bearer <token>``, authenticates it (401 otherwise) and refuses writes by
viewer tokens (403). The principal is kept on ``request.state`` for the audit log.

The dependencies are ``async``: a recently verified token is checked from memory on the event
loop (no worker-thread hop); only a cache miss reads the database, in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from goldenpath.auth.models import Principal
from goldenpath.auth.service import AuthService, require_admin, require_write
from goldenpath.catalog.service import CatalogService
from goldenpath.settings import Settings

if TYPE_CHECKING:
    from goldenpath.api.metrics import ApiMetrics
    from goldenpath.deploy.service import DeployService
    from goldenpath.insights.service import InsightsService
    from goldenpath.policy.service import PolicyService
    from goldenpath.resources.service import ResourceService
    from goldenpath.scaffolder.service import ScaffolderService
    from goldenpath.secrets.service import SecretService

__all__ = [
    "READ_ONLY_POSTS",
    "AdminDep",
    "PrincipalDep",
    "ReaderDep",
    "Services",
    "ServicesDep",
    "principal",
    "reader",
    "services",
]

#: POST routes that change nothing: viewers may call them and they are not audited.
READ_ONLY_POSTS = frozenset(
    {
        "/api/catalog/entities/by-refs",
        "/api/catalog/validate-entity",
        "/api/deploy/v1/render",
        "/api/deploy/v1/diff",
        "/api/deploy/v1/pipelines",
    }
)


@dataclass(slots=True)
class Services:
    """Everything a route may call, built once by ``create_app``."""

    settings: Settings
    engine: Engine
    #: PostgreSQL: the catalog's bounded read sessions (``store.engine.make_read_engine``)
    read_engine: Engine | None
    catalog: CatalogService
    auth: AuthService
    metrics: ApiMetrics
    scaffolder: ScaffolderService
    deploy: DeployService
    policy: PolicyService
    secrets: SecretService
    resources: ResourceService
    insights: InsightsService


async def services(request: Request) -> Services:
    """The app's :class:`Services` (async: no IO, so no threadpool hop)."""
    result: Services = request.app.state.services
    return result


ServicesDep = Annotated[Services, Depends(services)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def reader(request: Request, svc: ServicesDep) -> Principal:
    """Authenticate the request; any role may proceed (reads, including read-only POSTs).

    Raises:
        Unauthorized: no, unknown, revoked or expired token (401).
    """
    token = _bearer(request)
    who = svc.auth.authenticate_cached(token)
    if who is None:
        who = await run_in_threadpool(svc.auth.authenticate, token)
    request.state.principal = who
    return who


ReaderDep = Annotated[Principal, Depends(reader)]


async def principal(request: Request, who: ReaderDep) -> Principal:
    """Authenticate the request and refuse writes by viewers.

    Raises:
        Unauthorized: no, unknown, revoked or expired token (401).
        Forbidden: a viewer token on a method other than GET/HEAD (403).
    """
    require_write(who, request.method)
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]


async def admin(who: PrincipalDep) -> Principal:
    """Like :func:`principal`, and additionally require the admin role (403 otherwise)."""
    require_admin(who)
    return who


AdminDep = Annotated[Principal, Depends(admin)]
