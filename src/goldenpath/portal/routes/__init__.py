"""Portal pages, one module per area; each exposes ``router`` (an ``APIRouter``).

Mounted in this order by :func:`goldenpath.portal.app.mount_portal` (``login`` first: it owns
``/login``, ``/logout`` and the OIDC callback).
"""

from __future__ import annotations

from fastapi import APIRouter

from goldenpath.portal.routes import (
    actions,
    catalog,
    create,
    deployments,
    entity,
    home,
    insights,
    login,
    search,
    techdocs,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    module.router
    for module in (
        login,
        home,
        catalog,
        entity,
        techdocs,
        create,
        actions,
        deployments,
        insights,
        search,
    )
]
