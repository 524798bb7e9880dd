"""The deploy tables (Alembic revision ``0005_deploy``), row → record mapping, input checks.

Private to :mod:`goldenpath.deploy.store`. Times are stored as UTC: PostgreSQL keeps
instants (``timestamptz``), SQLite the UTC wall clock as text, so every value written goes
through :func:`utc` first and every value read comes back aware UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from goldenpath.deploy.records import (
    KINDS,
    STRATEGIES,
    Deployment,
    DeploymentKind,
    DeploymentState,
    Environment,
    EnvironmentStatus,
    Strategy,
    Target,
    Transition,
)
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.store.metadata import metadata

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

environments = sa.Table(
    "deploy_environments",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("driver", sa.String(40), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("parent", sa.String(40), nullable=True),
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("ix_deploy_environments_expires_at", "expires_at"),
)

deployments = sa.Table(
    "deploy_deployments",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("strategy", sa.String(20), nullable=False),
    sa.Column("repo", sa.Text, nullable=True),
    sa.Column("ref", sa.String(500), nullable=True),
    sa.Column("sha", sa.String(64), nullable=True),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("commit_author", sa.String(500), nullable=True),
    sa.Column("release_id", sa.String(200), nullable=True),
    sa.Column("workload", sa.JSON, nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("step_index", sa.Integer, nullable=False),
    sa.Column("progress", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("triggered_by", sa.String(200), nullable=False),
    sa.Column("rollback_of", _ID, nullable=True),
    sa.Column("previous_id", _ID, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_deploy_deployments_service", "service", "environment", "id"),
    sa.Index("ix_deploy_deployments_environment", "environment", "id"),
    sa.Index("ix_deploy_deployments_state", "state", "id"),
)

transitions = sa.Table(
    "deploy_transitions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column(
        "deployment_id",
        _ID,
        sa.ForeignKey("deploy_deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("from_state", sa.String(20), nullable=True),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_deploy_transitions_deployment_id", "deployment_id", "id"),
)

targets = sa.Table(
    "deploy_targets",
    metadata,
    sa.Column("service", sa.String(63), primary_key=True),
    sa.Column(
        "environment",
        sa.String(40),
        sa.ForeignKey("deploy_environments.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("stable_id", _ID, nullable=True),
    sa.Column("active_id", _ID, nullable=True),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_deploy_targets_environment", "environment"),
)


def utc(value: datetime) -> datetime:
    """Aware UTC (a naive value is taken as UTC already)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc` that lets None through."""
    return None if value is None else utc(value)


def to_transition(row: Any) -> Transition:
    """A ``deploy_transitions`` row as a :class:`Transition`."""
    return Transition(
        from_state=row.from_state,
        to_state=row.to_state,
        at=utc(row.at),
        actor=row.actor,
        reason=row.reason,
    )


def to_deployment(row: Any, history: Iterable[Transition]) -> Deployment:
    """A ``deploy_deployments`` row plus its transitions (oldest first)."""
    return Deployment(
        id=int(row.id),
        service=row.service,
        environment=row.environment,
        kind=cast(DeploymentKind, row.kind),
        strategy=cast(Strategy, row.strategy),
        repo=row.repo,
        ref=row.ref,
        sha=row.sha,
        committed_at=utc_or_none(row.committed_at),
        commit_author=row.commit_author,
        release_id=row.release_id,
        workload=dict(row.workload or {}),
        steps=tuple(dict(step) for step in row.steps or ()),
        step_index=int(row.step_index),
        progress=dict(row.progress or {}),
        state=cast(DeploymentState, row.state),
        message=row.message,
        triggered_by=row.triggered_by,
        rollback_of=None if row.rollback_of is None else int(row.rollback_of),
        previous_id=None if row.previous_id is None else int(row.previous_id),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        finished_at=utc_or_none(row.finished_at),
        transitions=tuple(history),
    )


def to_environment(row: Any) -> Environment:
    """A ``deploy_environments`` row as an :class:`Environment`."""
    return Environment(
        name=row.name,
        driver=row.driver,
        settings=dict(row.settings or {}),
        parent=row.parent,
        ephemeral=bool(row.ephemeral),
        expires_at=utc_or_none(row.expires_at),
        created_at=utc(row.created_at),
        created_by=row.created_by,
        status=cast(EnvironmentStatus, row.status),
    )


def to_target(row: Any) -> Target:
    """A ``deploy_targets`` row as a :class:`Target`."""
    weights: Mapping[str, Any] = row.weights or {}
    return Target(
        service=row.service,
        environment=row.environment,
        stable_id=None if row.stable_id is None else int(row.stable_id),
        active_id=None if row.active_id is None else int(row.active_id),
        weights={str(k): int(v) for k, v in weights.items()},
        updated_at=utc(row.updated_at),
    )


# --- input checks (pure; every store function validates before it writes) --------------

_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def now_or(now: datetime | None) -> datetime:
    """``now`` as aware UTC, or the wall clock."""
    return utc(now) if now is not None else datetime.now(UTC)


def plain_json(value: Any, field: str) -> Any:
    """``value`` when it is plain JSON (no NaN/Infinity: PostgreSQL refuses them).

    Raises:
        InvalidInput: naming ``field``.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"field {field} is not plain JSON ({e}); pass dicts, lists, strings, finite "
            "numbers, booleans and null only",
            details={"field": field},
        ) from e
    return value


def check_new(
    *, service: str, kind: str, strategy: str, triggered_by: str, rollback_of: int | None
) -> None:
    """Refuse a malformed new deployment (InvalidInput naming the field and the fix)."""
    if not isinstance(service, str) or not _SERVICE.match(service):
        raise InvalidInput(
            f"service name {service!r} is not a DNS label: use 1-63 lower-case letters, digits "
            "and '-' (the workload's metadata.name)",
            details={"field": "service", "value": service},
        )
    if kind not in KINDS:
        raise InvalidInput(f"deployment kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if strategy not in STRATEGIES:
        raise InvalidInput(
            f"strategy {strategy!r} is unknown; use one of {', '.join(STRATEGIES)}",
            details={"field": "strategy", "value": strategy},
        )
    if not triggered_by:
        raise InvalidInput("triggered_by is empty; pass the user or token name that deploys")
    if (kind in ("rollback", "redeploy")) != (rollback_of is not None):
        raise InvalidInput(
            "rollback_of is required for kinds 'rollback' and 'redeploy' and not allowed for "
            "kind 'deploy'"
        )


def check_sha(sha: str) -> None:
    """Refuse a value that is not a git commit id (7-64 lower-case hex digits)."""
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise InvalidInput(f"sha {sha!r} is not a git commit id (7-64 lower-case hex digits)")


def check_weights(weights: Mapping[str, int]) -> dict[str, int]:
    """``weights`` as ``{version: percent}`` when each is an int 0-100 and, unless empty,
    they sum to 100 (InvalidInput otherwise)."""
    clean: dict[str, int] = {}
    for version, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise InvalidInput(f"weight of {version!r} is {weight!r}; use an integer 0-100")
        clean[str(version)] = weight
    if clean and sum(clean.values()) != 100:
        raise InvalidInput(f"weights {clean} sum to {sum(clean.values())}; they must sum to 100")
    return clean


# --- private SQL shared by the store functions -------------------------------------------


def _history(conn: Connection, ids: Sequence[int]) -> dict[int, list[Transition]]:
    found: dict[int, list[Transition]] = {i: [] for i in ids}
    if ids:
        query = (
            sa.select(transitions)
            .where(transitions.c.deployment_id.in_(ids))
            .order_by(transitions.c.id)
        )
        for row in conn.execute(query):
            found[int(row.deployment_id)].append(to_transition(row))
    return found


def select_deployments(conn: Connection, query: sa.Select[Any]) -> list[Deployment]:
    """The deployments ``query`` selects, in its order, each with its transitions."""
    rows = list(conn.execute(query))
    history = _history(conn, [int(row.id) for row in rows])
    return [to_deployment(row, history[int(row.id)]) for row in rows]


def load(conn: Connection, deployment_id: int) -> Deployment:
    """One deployment with its transitions (NotFound when missing)."""
    found = select_deployments(
        conn, sa.select(deployments).where(deployments.c.id == deployment_id)
    )
    if not found:
        raise NotFound(
            f"deployment {deployment_id} does not exist; `platform deploy history` lists them",
            details={"id": deployment_id},
        )
    return found[0]


def ensure_target(conn: Connection, *, service: str, environment: str, now: datetime) -> None:
    """Make sure the target row exists (a no-op when it does; never blocks a claim)."""
    values = {
        "service": service,
        "environment": environment,
        "weights": {},
        "updated_at": now,
    }
    insert_ignore(conn, targets, values)


def busy_conflict(conn: Connection, service: str, environment: str) -> Conflict:
    """The Conflict for a second deployment while one is in flight (names it and the way out)."""
    row = conn.execute(
        sa.select(deployments.c.id, deployments.c.state)
        .join(targets, targets.c.active_id == deployments.c.id)
        .where(targets.c.service == service, targets.c.environment == environment)
    ).first()
    ident, state = (row.id, row.state) if row is not None else ("?", "in flight")
    return Conflict(
        f"{service} is already being deployed to {environment}: deployment {ident} is {state}; "
        f"wait for it (`platform deploy status {service} --env {environment}`) or run "
        f"`platform deploy abort {service} --env {environment}`",
        details={"activeId": ident, "state": state},
    )


def insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING`` on either backend; True when a row was inserted."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports -1 for a conflicting INSERT … DO NOTHING
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def unknown_environment(conn: Connection, name: str) -> NotFound:
    """The NotFound for environment ``name``, listing the known ones."""
    known = list(conn.execute(sa.select(environments.c.name).order_by("name")).scalars())
    return NotFound(
        f"environment {name!r} does not exist; known: {', '.join(known) or 'none'} "
        f"(create it with `platform env create {name}`)",
        details={"name": name, "known": known},
    )


def find_environment(conn: Connection, name: str) -> Environment:
    """Environment ``name`` (NotFound listing the known ones)."""
    row = conn.execute(sa.select(environments).where(environments.c.name == name)).first()
    if row is None:
        raise unknown_environment(conn, name)
    return to_environment(row)


def require_active_environment(conn: Connection, name: str) -> Environment:
    """Environment ``name`` when it exists and is not being deleted.

    Raises:
        NotFound: listing the known environments.
        Conflict: the environment is being torn down.
    """
    env = find_environment(conn, name)
    if env.status != "active":
        raise Conflict(
            f"environment {name!r} is being deleted; deploy to another environment or "
            f"recreate it with `platform env create {name}` once it is gone",
            details={"name": name, "status": env.status},
        )
    return env


def check_rollback_of(conn: Connection, rollback_of: int, service: str, environment: str) -> None:
    """Refuse a ``rollback_of`` that is missing (NotFound) or of another target."""
    row = conn.execute(
        sa.select(deployments.c.service, deployments.c.environment).where(
            deployments.c.id == rollback_of
        )
    ).first()
    if row is None:
        raise NotFound(f"rollback_of: deployment {rollback_of} does not exist")
    if (row.service, row.environment) != (service, environment):
        raise InvalidInput(
            f"rollback_of: deployment {rollback_of} is {row.service} in {row.environment}, "
            f"not {service} in {environment}; roll back to a deployment of the same target"
        )


def progress_values(
    progress: Mapping[str, Any] | None, step_index: int | None, message: str | None
) -> dict[str, Any]:
    """The columns :func:`update_progress`/:func:`transition` write (checked)."""
    values: dict[str, Any] = {}
    if progress is not None:
        values["progress"] = dict(plain_json(dict(progress), "progress"))
    if step_index is not None:
        if isinstance(step_index, bool) or not isinstance(step_index, int) or step_index < 0:
            raise InvalidInput(f"step_index {step_index!r} must be an integer >= 0")
        values["step_index"] = step_index
    if message is not None:
        values["message"] = message
    return values


def set_once(
    engine: Engine, deployment_id: int, values: Mapping[str, Any], *, what: str
) -> Deployment:
    """Write ``values`` while their first column is still NULL; the same values again are a
    no-op (retries are idempotent), different ones a Conflict."""
    first = next(iter(values))
    with engine.begin() as conn:
        conn.execute(
            deployments.update()
            .where(deployments.c.id == deployment_id, deployments.c[first].is_(None))
            .values(**values)
        )
        found = load(conn, deployment_id)
        stored = {k: getattr(found, k) for k in values}
        if stored != dict(values):
            raise Conflict(
                f"deployment {deployment_id} already has its {what} ({stored[first]}); it is "
                "set once and cannot change — start a new deployment instead",
                details={"id": deployment_id, "field": first},
            )
        return found


def insert_deployment(
    conn: Connection,
    *,
    service: str,
    environment: str,
    kind: str,
    strategy: str,
    repo: str | None,
    ref: str | None,
    workload: Mapping[str, Any],
    steps: Sequence[Mapping[str, Any]],
    triggered_by: str,
    rollback_of: int | None,
    now: datetime,
) -> int:
    """Insert a ``pending`` deployment row (checked input); returns its id."""
    key = conn.execute(
        deployments.insert().values(
            service=service,
            environment=environment,
            kind=kind,
            strategy=strategy,
            repo=repo,
            ref=ref,
            workload=dict(workload),
            steps=[dict(step) for step in steps],
            step_index=0,
            progress={},
            state="pending",
            message="waiting to be built",
            triggered_by=triggered_by,
            rollback_of=rollback_of,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def record_transition(
    conn: Connection,
    deployment_id: int,
    from_state: str | None,
    to_state: str,
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    """Append one ``deploy_transitions`` row."""
    conn.execute(
        transitions.insert().values(
            deployment_id=deployment_id,
            from_state=from_state,
            to_state=to_state,
            at=at,
            actor=actor,
            reason=reason,
        )
    )


def moved_meanwhile(conn: Connection, deployment_id: int, was: str, to_state: str) -> Conflict:
    """The Conflict for a compare-and-set on the state that lost to another writer."""
    now_state = conn.execute(
        sa.select(deployments.c.state).where(deployments.c.id == deployment_id)
    ).scalar()
    return Conflict(
        f"deployment {deployment_id} changed from {was} to {now_state} meanwhile; it cannot "
        f"become {to_state} now",
        details={"from": was, "now": now_state, "to": to_state},
    )
