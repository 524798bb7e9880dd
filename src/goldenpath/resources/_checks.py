"""Checks and small helpers of :mod:`goldenpath.resources.service` (private).

The spec comparison behind idempotent creates, the policy input of a provision request,
the per-claim lease, and the "is it ready / is it a local database" checks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from goldenpath.errors import Conflict, InvalidInput, Unavailable
from goldenpath.resources import store
from goldenpath.resources.model import Claim, ClaimRequest, ResourceType
from goldenpath.resources.types import TypeRegistry
from goldenpath.store import leases

__all__ = ["claim_lease", "guard_input", "local_database", "ready_claim", "same_spec"]

LEASE_TTL = 120.0  # s a provisioning step may hold a claim's lease
LEASE_WAIT = 90.0  # s a second creator waits for the first


def same_spec(existing: Claim, req: ClaimRequest) -> None:
    """Refuse ``req`` when claim ``existing`` has another type or size.

    Raises:
        Conflict: naming both specs and the way out.
    """
    if (existing.type, existing.size) != (req.type, req.size):
        raise Conflict(
            f"resource {req.name!r} in {req.environment} exists as {existing.type}/"
            f"{existing.size}; you asked for {req.type}/{req.size}. Pick another name or "
            "delete the existing one first",
            details={
                "existing": {"type": existing.type, "size": existing.size},
                "requested": {"type": req.type, "size": req.size},
            },
        )


def guard_input(
    req: ClaimRequest, kind: ResourceType, env: Mapping[str, Any], actor: str
) -> dict[str, Any]:
    """The policy input of a provision request (``docs/resources.md`` shows it)."""
    return {
        "action": "provision",
        "environment": {"name": req.environment, "production": bool(env.get("production"))},
        "resource": {
            "name": req.name,
            "type": kind.name,
            "size": req.size,
            "backups": bool(req.params.get("backups", kind.backups)),
        },
        "owner": {"ref": req.owner},
        "actor": actor,
    }


@contextmanager
def claim_lease(engine: Engine, holder: str, environment: str, name: str) -> Iterator[None]:
    """Hold the lease ``resources:<env>/<name>`` (waiting up to ``LEASE_WAIT`` s for it).

    Each call holds it under its own holder id (``<holder>/<random>``), so two threads of one
    server exclude each other as two servers do.

    Raises:
        Unavailable: another request held it all that time.
    """
    key = f"resources:{environment}/{name}"
    holder = f"{holder}/{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + LEASE_WAIT
    delay = 0.01
    while not leases.acquire(engine, key, holder, ttl=LEASE_TTL):
        if time.monotonic() > deadline:
            raise Unavailable(
                f"resource {name!r} in {environment} is being changed by another request "
                f"for over {LEASE_WAIT:.0f} s; try again later"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    try:
        yield
    finally:
        leases.release(engine, key, holder)


def ready_claim(engine: Engine, name: str, environment: str, what: str) -> Claim:
    """Claim ``name`` when it is ``ready``.

    Raises:
        NotFound: no such claim; Conflict: it is provisioning or failed (says which).
    """
    claim = store.load_claim(engine, name, environment)
    if claim.state != "ready":
        raise Conflict(
            f"cannot {what} {name!r} in {environment}: it is {claim.state}",
            details={"state": claim.state},
        )
    return claim


def local_database(engine: Engine, registry: TypeRegistry, claim: Claim) -> str:
    """The managed-cluster database of ``claim``.

    Raises:
        InvalidInput: the claim's type has no backups or it is not a local database.
    """
    kind = registry.get(claim.type)
    database = store.resource_of(engine, claim.id).get("database")
    if not kind.backups or not database:
        raise InvalidInput(
            f"{claim.name!r} is a {claim.type} resource: backups and restores exist for "
            "postgres databases provisioned locally",
            details={"type": claim.type},
        )
    return str(database)
