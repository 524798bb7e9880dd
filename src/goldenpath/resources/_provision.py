"""Local provisioners: what ``local-postgres`` and ``local-redis`` compositions do.

Private to :mod:`goldenpath.resources.service`. A provisioner turns (claim, parameters,
password) into *facts* — ``host port database username password`` plus ``resource`` (what
to remember: database/role/instance names, the storage quota; never the password) — that a
composition's output templates are filled from. Every call is idempotent: running it again
with the same password changes nothing; with another password it updates the role/instance.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from goldenpath.errors import InvalidInput

if TYPE_CHECKING:
    from goldenpath.drivers.local.postgres import ManagedPostgres
    from goldenpath.drivers.local.redis import ManagedRedis

__all__ = ["identifier", "provision_postgres", "provision_redis"]

_UNSAFE = re.compile(r"[^a-z0-9_]")
_MAX_IDENT = 63


def identifier(environment: str, name: str) -> str:
    """A PostgreSQL/program-safe name for claim ``name`` in ``environment``:
    ``<env>_<name>`` with ``-`` → ``_`` (``dev_orders_db``); prefixed ``r_`` when it would not
    start with a letter; shortened with a hash suffix beyond 63 characters (NAMEDATALEN - 1)."""
    ident = _UNSAFE.sub("_", f"{environment}_{name}".lower())
    if not ident[:1].isalpha() or ident.startswith("pg_"):
        ident = f"r_{ident}"  # PostgreSQL reserves pg_*
    if len(ident) > _MAX_IDENT:
        digest = hashlib.sha256(ident.encode()).hexdigest()[:8]
        ident = f"{ident[: _MAX_IDENT - 9]}_{digest}"
    return ident


def _int(parameters: Mapping[str, Any], key: str, source: str) -> int:
    value = parameters.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(
            f"{source}: spec.provision.sizes: {key} must be a positive integer, not {value!r}"
        )
    return value


def provision_postgres(
    postgres: ManagedPostgres,
    *,
    environment: str,
    name: str,
    parameters: Mapping[str, Any],
    password: str,
    source: str,
) -> dict[str, Any]:
    """Ensure the managed cluster runs and holds the claim's database and role.

    Returns facts ``{host, port, database, username, password, resource: {database, role,
    connection_limit, storage_quota_mb}}``.

    Raises:
        InvalidInput: the composition's size parameters are not positive integers.
        Unavailable: the cluster cannot be started (from :class:`ManagedPostgres`).
    """
    limit = _int(parameters, "connection_limit", source)
    quota = _int(parameters, "storage_quota_mb", source)
    ident = identifier(environment, name)
    endpoint = postgres.ensure_running()
    postgres.ensure_database(ident, role=ident, password=password, connection_limit=limit)
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "database": ident,
        "username": ident,
        "password": password,
        "resource": {
            "database": ident,
            "role": ident,
            "connection_limit": limit,
            "storage_quota_mb": quota,
        },
    }


def provision_redis(
    redis: ManagedRedis,
    *,
    environment: str,
    name: str,
    parameters: Mapping[str, Any],
    password: str,
    source: str,
) -> dict[str, Any]:
    """Ensure a supervised ``redis-server`` for the claim (password, maxmemory).

    Returns facts ``{host, port, database: "0", username: "default", password, resource:
    {instance, maxmemory_mb}}``.

    Raises:
        InvalidInput: ``maxmemory_mb`` is not a positive integer.
        Unavailable: ``redis-server`` is not installed (the message says how to install it).
    """
    memory = _int(parameters, "maxmemory_mb", source)
    instance = identifier(environment, name).replace("_", "-")
    endpoint = redis.ensure_instance(instance, password=password, maxmemory_mb=memory)
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "database": "0",
        "username": "default",
        "password": password,
        "resource": {"instance": instance, "maxmemory_mb": memory},
    }
