"""Read-only bulk SQL behind :mod:`goldenpath.insights.facts` (private).

Each function is one (grouped) query over another domain's tables, so collecting facts for
10,000 entities costs a handful of statements, not one per entity. Times come back aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.auth import store as auth_store
from goldenpath.catalog.store import tables as catalog_tables
from goldenpath.deploy import _tables as deploy_tables
from goldenpath.policy import store as policy_store
from goldenpath.resources import _tables as resource_tables
from goldenpath.scaffolder import taskstore
from goldenpath.secrets import _tables as secret_tables

__all__ = [
    "APPROVAL_MARK",
    "DeploySummary",
    "TaskOrigin",
    "approval_decisions",
    "catalog_created",
    "deploy_summaries",
    "first_deploys_by_user",
    "first_seen_users",
    "latest_policy",
    "latest_slos",
    "production_runs",
    "request_counts",
    "task_origins",
    "template_version",
    "utc",
]

_D = deploy_tables.deployments
_DEPLOY_SUBJECT = "service "
#: a policy rule whose name contains this marks a request that waits for a person
APPROVAL_MARK = "approval"
#: auth_users (migration 0009_users), described here for reading only
_users = sa.table(
    "auth_users",
    sa.column("ref", sa.String),
    sa.column("first_login_at", sa.DateTime(timezone=True)),
)


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive UTC), None kept."""
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(slots=True)
class DeploySummary:
    """Successful deployments of one service: production first/last/count, any environment."""

    first_production: datetime | None = None
    last_production: datetime | None = None
    production_count: int = 0
    last_any: datetime | None = None
    any_count: int = 0


def deploy_summaries(engine: Engine, production: str) -> dict[str, DeploySummary]:
    """Service → :class:`DeploySummary` from one ``GROUP BY service, environment`` query."""
    query = (
        sa.select(
            _D.c.service,
            _D.c.environment,
            sa.func.min(_D.c.finished_at),
            sa.func.max(_D.c.finished_at),
            sa.func.count(),
        )
        .where(_D.c.state == "succeeded")
        .group_by(_D.c.service, _D.c.environment)
    )
    found: dict[str, DeploySummary] = {}
    with engine.connect() as conn:
        for service, environment, first, last, count in conn.execute(query):
            item = found.setdefault(service, DeploySummary())
            first, last = utc(first), utc(last)
            item.any_count += int(count)
            if last is not None and (item.last_any is None or last > item.last_any):
                item.last_any = last
            if environment == production:
                item.first_production, item.last_production = first, last
                item.production_count = int(count)
    return found


def latest_slos(engine: Engine) -> dict[str, float]:
    """Service → ``monitoring.slo`` of the workload of its latest successful deployment (any
    environment), for the services whose workload declares one (read in SQL, JSON path)."""
    latest = sa.select(sa.func.max(_D.c.id)).where(_D.c.state == "succeeded").group_by(_D.c.service)
    slo = _D.c.workload[("monitoring", "slo")].as_float()
    query = sa.select(_D.c.service, slo).where(
        _D.c.id.in_(latest.scalar_subquery()), slo.is_not(None)
    )
    with engine.connect() as conn:
        return {service: float(value) for service, value in conn.execute(query)}


def latest_policy(engine: Engine) -> dict[str, tuple[bool, datetime, int]]:
    """Service → ``(allowed, at, decision id)`` of its latest ``deploy`` decision (subjects
    ``service <name> in <environment>``, any environment)."""
    t = policy_store.decisions
    latest = (
        sa.select(sa.func.max(t.c.id))
        .where(t.c.action == "deploy", t.c.subject.like(f"{_DEPLOY_SUBJECT}%"))
        .group_by(t.c.subject)
    )
    query = sa.select(t.c.id, t.c.subject, t.c.allowed, t.c.at).where(
        t.c.id.in_(latest.scalar_subquery())
    )
    found: dict[str, tuple[bool, datetime, int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            service = row.subject[len(_DEPLOY_SUBJECT) :].split(" in ", 1)[0].strip()
            at = utc(row.at)
            assert at is not None
            if service not in found or found[service][2] < row.id:
                found[service] = (bool(row.allowed), at, int(row.id))
    return found


@dataclass(frozen=True, slots=True)
class TaskOrigin:
    """The completed scaffolder task that created a component (matched by ``parameters.name``)."""

    template_ref: str
    template_version: str | None
    completed_at: datetime | None


def template_version(entity: Any) -> str | None:
    """A template entity's version marker: annotation ``goldenpath.dev/template-version`` when
    the platform team sets one, else the catalog ``metadata.etag`` (changes with the entity)."""
    if not isinstance(entity, dict):
        return None
    meta = entity.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    marker = annotations.get("goldenpath.dev/template-version") or meta.get("etag")
    return None if marker is None else str(marker)


def task_origins(engine: Engine) -> dict[str, TaskOrigin]:
    """Component name (lower-case) → the latest completed, non-dry-run task that named it."""
    t = taskstore.scaffolder_tasks
    query = sa.select(t.c.spec, t.c.completed_at).where(t.c.status == "completed").order_by(t.c.id)
    found: dict[str, TaskOrigin] = {}
    with engine.connect() as conn:
        for spec, completed_at in conn.execute(query):
            spec = spec or {}
            name = (spec.get("parameters") or {}).get("name")
            info = spec.get("templateInfo") or {}
            if spec.get("dryRun") or not isinstance(name, str) or not info.get("entityRef"):
                continue
            found[name.lower()] = TaskOrigin(
                template_ref=str(info["entityRef"]).lower(),
                template_version=template_version(info.get("entity")),
                completed_at=utc(completed_at),
            )
    return found


def catalog_created(engine: Engine, kind: str = "component") -> dict[str, datetime]:
    """Lower-case entity ref → when the catalog first stored it, for every entity of ``kind``."""
    t = catalog_tables.catalog_entities
    query = sa.select(t.c.entity_ref, t.c.created_at).where(t.c.kind == kind)
    with engine.connect() as conn:
        return {row.entity_ref: utc(row.created_at) for row in conn.execute(query)}  # type: ignore[misc]


def first_seen_users(engine: Engine) -> dict[str, datetime]:
    """User ref (lower-case) → first sign-in (``auth_users.first_login_at``) or first API
    token created for them, whichever is earlier."""
    tokens = auth_store.auth_tokens
    found: dict[str, datetime] = {}

    def keep(ref: str, at: datetime | None) -> None:
        if at is not None and (ref not in found or at < found[ref]):
            found[ref] = at

    with engine.connect() as conn:
        query = sa.select(tokens.c.owner, sa.func.min(tokens.c.created_at)).group_by(tokens.c.owner)
        for owner, at in conn.execute(query):
            keep(str(owner).lower(), utc(at))
        if sa.inspect(conn).has_table("auth_users"):
            rows = conn.execute(
                sa.select(_users.c.ref, _users.c.first_login_at).where(
                    _users.c.first_login_at.is_not(None)
                )
            )
            for ref, at in rows:
                keep(str(ref).lower(), utc(at))
    return found


def first_deploys_by_user(engine: Engine) -> dict[str, datetime]:
    """``triggered_by`` (lower-case) → finish of the first successful deployment they started."""
    query = (
        sa.select(_D.c.triggered_by, sa.func.min(_D.c.finished_at))
        .where(_D.c.state == "succeeded")
        .group_by(_D.c.triggered_by)
    )
    with engine.connect() as conn:
        return {str(who).lower(): utc(at) for who, at in conn.execute(query)}  # type: ignore[misc]


def production_runs(
    engine: Engine, production: str, since: datetime
) -> list[tuple[str, str, datetime]]:
    """``(service, state, finished_at)`` of finished production deployments since ``since``,
    in finishing order (for recovery times)."""
    query = (
        sa.select(_D.c.service, _D.c.state, _D.c.finished_at)
        .where(
            _D.c.environment == production,
            _D.c.finished_at.is_not(None),
            _D.c.finished_at >= since,
            _D.c.state.in_(("succeeded", "failed")),
        )
        .order_by(_D.c.finished_at, _D.c.id)
    )
    with engine.connect() as conn:
        return [(s, state, utc(at)) for s, state, at in conn.execute(query)]  # type: ignore[misc]


def request_counts(engine: Engine, since: datetime) -> dict[str, int]:
    """Infrastructure requests since ``since``: ``resourceClaims`` (claims created),
    ``environments`` (environments created by someone, not the start-up defaults) and
    ``secretRotations`` (secret versions after the first)."""
    claims = resource_tables.claims
    envs = deploy_tables.environments
    versions = secret_tables.versions
    count = sa.func.count()
    with engine.connect() as conn:
        return {
            "resourceClaims": int(
                conn.execute(sa.select(count).where(claims.c.created_at >= since)).scalar_one()
            ),
            "environments": int(
                conn.execute(
                    sa.select(count).where(
                        envs.c.created_at >= since, envs.c.created_by != "system"
                    )
                ).scalar_one()
            ),
            "secretRotations": int(
                conn.execute(
                    sa.select(count).where(versions.c.created_at >= since, versions.c.version > 1)
                ).scalar_one()
            ),
        }


def approval_decisions(engine: Engine, since: datetime) -> int:
    """Policy decisions since ``since`` (deploy or provision) that required a person: a deny
    or warn rule whose name contains ``approval`` (e.g. ``approval_required``)."""
    t = policy_store.decisions
    query = sa.select(t.c.denials, t.c.warnings).where(
        t.c.at >= since, t.c.action.in_(("deploy", "provision"))
    )
    found = 0
    with engine.connect() as conn:
        for denials, warnings in conn.execute(query):
            rules: Iterable[Any] = [*(denials or ()), *(warnings or ())]
            if any(APPROVAL_MARK in str((r or {}).get("rule", "")).lower() for r in rules):
                found += 1
    return found
