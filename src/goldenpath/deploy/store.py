"""Deployments, targets and environments in the database (the one deploy module speaking SQL).

Tables (Alembic revision ``0005_deploy``, SQLite and PostgreSQL; declared in
:mod:`goldenpath.deploy._tables`): ``deploy_deployments`` (one immutable record per
deployment), ``deploy_transitions`` (every state change, ordered by id),
``deploy_targets`` (per service and environment: the stable and the in-flight deployment,
the traffic weights) and ``deploy_environments``.

Invariants, kept on both backends without table locks (compare-and-set statements report
their winner with ``RETURNING``, never ``rowcount``):

- At most one deployment in flight per service and environment (issue 4: "the second waits
  or is refused with a clear message"): :func:`create_deployment` claims the target with a
  conditional ``UPDATE … SET active_id = :id WHERE active_id IS NULL`` in the transaction
  that inserts the deployment; the loser's insert is rolled back and it gets
  :class:`~goldenpath.errors.Conflict` naming the winner.
- State changes go through :data:`goldenpath.deploy.states.ALLOWED` and are applied as a
  compare-and-set on the old state, with their :class:`~goldenpath.deploy.records.Transition`
  row in the same transaction.
- What was asked for (service, environment, kind, strategy, repo, ref, workload, steps,
  triggered_by, rollback_of, previous_id) is never updated; the commit and the release are
  set once (:func:`set_revision`, :func:`set_release`).

Every function raises only :mod:`goldenpath.errors` classes, and a call that raises has
changed nothing. Times are aware UTC; ``now`` defaults to the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from goldenpath.deploy import _tables as t
from goldenpath.deploy.records import (
    STATES,
    TERMINAL,
    Deployment,
    Environment,
    Target,
    validate_environment_name,
)
from goldenpath.deploy.states import check_transition
from goldenpath.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "create_deployment",
    "create_environment",
    "delete_targets",
    "drop_environment",
    "ensure_environments",
    "expired_environments",
    "get_deployment",
    "get_environment",
    "get_target",
    "in_flight",
    "list_deployments",
    "list_environments",
    "list_targets",
    "mark_environment_deleting",
    "set_release",
    "set_revision",
    "set_weights",
    "transition",
    "update_progress",
]

_D, _X, _T = t.deployments, t.transitions, t.targets
_MAX_LIMIT = 1000


# --- reads -------------------------------------------------------------------------------


def get_deployment(engine: Engine, deployment_id: int) -> Deployment:
    """The deployment ``deployment_id`` with its transitions (oldest first).

    Raises:
        NotFound: no such deployment.
    """
    with engine.connect() as conn:
        return t.load(conn, deployment_id)


def list_deployments(
    engine: Engine,
    *,
    service: str | None = None,
    environment: str | None = None,
    states: Iterable[str] | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Deployment]:
    """Deployments newest first (``platform deploy history [SERVICE]``), at most ``limit``
    (1-1000); ``before_id`` = the id of the last deployment of the previous page (keyset
    pagination: the next page holds only smaller ids).

    Raises:
        InvalidInput: ``limit`` out of range or an unknown state in ``states``.
    """
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidInput(f"limit {limit} is out of range; use 1-{_MAX_LIMIT}")
    query = sa.select(_D)
    if service is not None:
        query = query.where(_D.c.service == service)
    if environment is not None:
        query = query.where(_D.c.environment == environment)
    if states is not None:
        wanted = list(states)
        unknown = [s for s in wanted if s not in STATES]
        if unknown:
            raise InvalidInput(
                f"unknown deployment state(s) {', '.join(unknown)}; use {', '.join(STATES)}"
            )
        query = query.where(_D.c.state.in_(wanted))
    if before_id is not None:
        query = query.where(_D.c.id < before_id)
    with engine.connect() as conn:
        return t.select_deployments(conn, query.order_by(_D.c.id.desc()).limit(limit))


def in_flight(engine: Engine) -> list[Deployment]:
    """Every deployment not yet succeeded, failed or aborted, oldest first (the
    reconciler's work list)."""
    query = sa.select(_D).where(_D.c.state.not_in(sorted(TERMINAL))).order_by(_D.c.id)
    with engine.connect() as conn:
        return t.select_deployments(conn, query)


def get_target(engine: Engine, service: str, environment: str) -> Target | None:
    """The target of ``service`` in ``environment``, None before its first deployment."""
    query = sa.select(_T).where(_T.c.service == service, _T.c.environment == environment)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else t.to_target(row)


def list_targets(
    engine: Engine, *, environment: str | None = None, service: str | None = None
) -> list[Target]:
    """Targets ordered by environment then service, optionally filtered."""
    query = sa.select(_T)
    if environment is not None:
        query = query.where(_T.c.environment == environment)
    if service is not None:
        query = query.where(_T.c.service == service)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(_T.c.environment, _T.c.service))
        return [t.to_target(row) for row in rows]


# --- writes ------------------------------------------------------------------------------


def create_deployment(
    engine: Engine,
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
    rollback_of: int | None = None,
    now: datetime | None = None,
) -> Deployment:
    """Record a new ``pending`` deployment and make it the target's in-flight one.

    One transaction: the deployment row, its first transition (None → pending, by
    ``triggered_by``), ``target.active_id = id`` (claimed only while it is empty) and
    ``previous_id = target.stable_id``.

    Raises:
        InvalidInput: a malformed field (service not a DNS label, unknown kind/strategy,
            non-JSON workload/steps, rollback_of missing or of another target).
        NotFound: the environment (the message lists the known ones) or ``rollback_of``
            does not exist.
        Conflict: the environment is being deleted, or another deployment of the service is
            in flight there (the message names its id and state, and how to wait or abort).
    """
    t.check_new(
        service=service,
        kind=kind,
        strategy=strategy,
        triggered_by=triggered_by,
        rollback_of=rollback_of,
    )
    workload = dict(t.plain_json(dict(workload), "workload"))
    plan = [dict(step) for step in t.plain_json([dict(step) for step in steps], "steps")]
    now = t.now_or(now)
    with engine.begin() as conn:
        t.require_active_environment(conn, environment)
        if rollback_of is not None:
            t.check_rollback_of(conn, rollback_of, service, environment)
        try:
            t.ensure_target(conn, service=service, environment=environment, now=now)
        except IntegrityError as e:  # the environment was dropped meanwhile
            raise NotFound(f"environment {environment!r} does not exist") from e
        deployment_id = t.insert_deployment(
            conn,
            service=service,
            environment=environment,
            kind=kind,
            strategy=strategy,
            repo=repo,
            ref=ref,
            workload=workload,
            steps=plan,
            triggered_by=triggered_by,
            rollback_of=rollback_of,
            now=now,
        )
        claimed = conn.execute(
            _T.update()
            .where(
                _T.c.service == service,
                _T.c.environment == environment,
                _T.c.active_id.is_(None),
            )
            .values(active_id=deployment_id, updated_at=now)
            .returning(_T.c.stable_id)
        ).first()
        if claimed is None:
            raise t.busy_conflict(conn, service, environment)
        conn.execute(
            _D.update().where(_D.c.id == deployment_id).values(previous_id=claimed.stable_id)
        )
        t.record_transition(
            conn, deployment_id, None, "pending", now, triggered_by, f"{kind} by {triggered_by}"
        )
        return t.load(conn, deployment_id)


def transition(
    engine: Engine,
    deployment_id: int,
    to_state: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
    progress: Mapping[str, Any] | None = None,
    step_index: int | None = None,
) -> Deployment:
    """Move a deployment to ``to_state`` through the transition table, recording the
    :class:`Transition` (``message`` becomes ``reason``). On a terminal state it sets
    ``finished_at`` and frees the target (``active_id = None``); on ``succeeded`` the
    deployment becomes the target's ``stable_id``. ``progress``/``step_index``, when given,
    are written in the same transaction.

    Raises:
        NotFound: no such deployment.
        InvalidInput: unknown state, negative step_index, non-JSON progress.
        Conflict: the table does not allow the change (the message names the allowed
            states), or another writer moved the deployment first.
    """
    now = t.now_or(now)
    values = t.progress_values(progress, step_index, None)
    with engine.begin() as conn:
        current = t.load(conn, deployment_id)
        check_transition(current.state, to_state)
        values.update(state=to_state, message=reason, updated_at=now)
        if to_state in TERMINAL:
            values["finished_at"] = now
        moved = conn.execute(
            _D.update()
            .where(_D.c.id == deployment_id, _D.c.state == current.state)
            .values(**values)
            .returning(_D.c.id)
        ).first()
        if moved is None:
            raise t.moved_meanwhile(conn, deployment_id, current.state, to_state)
        t.record_transition(conn, deployment_id, current.state, to_state, now, actor, reason)
        if to_state in TERMINAL:
            freed: dict[str, Any] = {
                "active_id": sa.case(
                    (_T.c.active_id == deployment_id, sa.null()), else_=_T.c.active_id
                ),
                "updated_at": now,
            }
            if to_state == "succeeded":
                freed["stable_id"] = deployment_id
            conn.execute(
                _T.update()
                .where(_T.c.service == current.service, _T.c.environment == current.environment)
                .values(**freed)
            )
        return t.load(conn, deployment_id)


def update_progress(
    engine: Engine,
    deployment_id: int,
    *,
    progress: Mapping[str, Any] | None = None,
    step_index: int | None = None,
    message: str | None = None,
    now: datetime | None = None,
) -> Deployment:
    """Write the reconciler's bookkeeping (``progress`` replaces the whole mapping), the next
    ``step_index`` and/or ``message``; the state does not change.

    Raises:
        NotFound: no such deployment.
        InvalidInput: negative step_index or non-JSON progress.
    """
    values = t.progress_values(progress, step_index, message)
    with engine.begin() as conn:
        if values:
            values["updated_at"] = t.now_or(now)
            conn.execute(_D.update().where(_D.c.id == deployment_id).values(**values))
        return t.load(conn, deployment_id)


def set_revision(
    engine: Engine,
    deployment_id: int,
    *,
    sha: str,
    committed_at: datetime,
    commit_author: str,
) -> Deployment:
    """Record the resolved commit (full hex ``sha``, committer time, ``"Name <email>"``);
    once — the same values again are accepted.

    Raises:
        NotFound: no such deployment.
        InvalidInput: ``sha`` is not 7-64 lower-case hex digits, ``committed_at`` no datetime.
        Conflict: a different commit is recorded already.
    """
    t.check_sha(sha)
    if not isinstance(committed_at, datetime):
        raise InvalidInput(f"committed_at {committed_at!r} is not a datetime (the commit time)")
    values = {"sha": sha, "committed_at": t.utc(committed_at), "commit_author": commit_author}
    return t.set_once(engine, deployment_id, values, what="commit")


def set_release(engine: Engine, deployment_id: int, release_id: str) -> Deployment:
    """Record the driver's ``Release.id``; once — the same id again is accepted.

    Raises:
        NotFound: no such deployment.
        InvalidInput: empty ``release_id``.
        Conflict: a different release is recorded already.
    """
    if not release_id:
        raise InvalidInput("release_id is empty; pass the driver's Release.id")
    return t.set_once(engine, deployment_id, {"release_id": release_id}, what="release")


def set_weights(
    engine: Engine,
    service: str,
    environment: str,
    weights: Mapping[str, int],
    *,
    now: datetime | None = None,
) -> Target:
    """Record the traffic split last applied (version → percent, 0-100 each, summing to 100
    unless empty); creates the target when it does not exist yet.

    Raises:
        InvalidInput: a weight out of range or a sum other than 100.
        NotFound: the environment does not exist.
    """
    clean = t.check_weights(weights)
    now = t.now_or(now)
    with engine.begin() as conn:
        try:
            t.ensure_target(conn, service=service, environment=environment, now=now)
        except IntegrityError as e:
            raise NotFound(f"environment {environment!r} does not exist") from e
        where = (_T.c.service == service, _T.c.environment == environment)
        conn.execute(_T.update().where(*where).values(weights=clean, updated_at=now))
        return t.to_target(conn.execute(sa.select(_T).where(*where)).one())


def delete_targets(engine: Engine, environment: str, service: str | None = None) -> None:
    """Forget the targets of ``environment`` (one ``service`` or all); deployments stay."""
    query = _T.delete().where(_T.c.environment == environment)
    if service is not None:
        query = query.where(_T.c.service == service)
    with engine.begin() as conn:
        conn.execute(query)


# --- environments ------------------------------------------------------------------------


def ensure_environments(
    engine: Engine,
    names: Sequence[str],
    *,
    driver: str = "local",
    now: datetime | None = None,
) -> None:
    """Create the environments among ``names`` that do not exist yet (permanent, empty
    settings, created by ``system``); existing ones are left exactly as they are, so this is
    safe at every start (the defaults ``dev``, ``staging``, ``production``).

    Raises:
        InvalidInput: a name is not a DNS label of 1-40 characters.
    """
    for name in names:
        validate_environment_name(name)
    now = t.now_or(now)
    with engine.begin() as conn:
        for name in names:
            t.insert_ignore(
                conn,
                t.environments,
                {
                    "name": name,
                    "driver": driver,
                    "settings": {},
                    "parent": None,
                    "ephemeral": False,
                    "expires_at": None,
                    "created_at": now,
                    "created_by": "system",
                    "status": "active",
                },
            )


def create_environment(
    engine: Engine,
    *,
    name: str,
    driver: str = "local",
    settings: Mapping[str, Any] | None = None,
    parent: str | None = None,
    ephemeral: bool = False,
    expires_at: datetime | None = None,
    created_by: str,
    now: datetime | None = None,
) -> Environment:
    """Create environment ``name`` (``platform env create NAME [--from ENV] [--ttl 24h]``).
    The caller copies the parent's settings when it wants them; ``expires_at`` (aware) is
    when the reconciler tears it down.

    Raises:
        InvalidInput: ``name`` is not a DNS label of 1-40 characters, empty driver or
            created_by, non-JSON settings.
        NotFound: ``parent`` does not exist (the message lists the known environments).
        Conflict: an environment ``name`` exists already.
    """
    validate_environment_name(name)
    if not driver or not created_by:
        raise InvalidInput("driver and created_by must not be empty (e.g. driver='local')")
    values = {
        "name": name,
        "driver": driver,
        "settings": dict(t.plain_json(dict(settings or {}), "settings")),
        "parent": parent,
        "ephemeral": bool(ephemeral),
        "expires_at": t.utc_or_none(expires_at),
        "created_at": t.now_or(now),
        "created_by": created_by,
        "status": "active",
    }
    with engine.begin() as conn:
        if parent is not None:
            t.find_environment(conn, parent)
        if not t.insert_ignore(conn, t.environments, values):
            raise Conflict(
                f"environment {name!r} already exists; pick another name or delete it first "
                f"with `platform env delete {name}`",
                details={"name": name},
            )
        return t.find_environment(conn, name)


def get_environment(engine: Engine, name: str) -> Environment:
    """Environment ``name``.

    Raises:
        NotFound: the message lists the known environments.
    """
    with engine.connect() as conn:
        return t.find_environment(conn, name)


def list_environments(engine: Engine) -> list[Environment]:
    """Every environment, by name."""
    query = sa.select(t.environments).order_by(t.environments.c.name)
    with engine.connect() as conn:
        return [t.to_environment(row) for row in conn.execute(query)]


def mark_environment_deleting(engine: Engine, name: str) -> Environment:
    """Set the status of ``name`` to ``deleting`` (idempotent): new deployments to it are
    refused while its teardown runs.

    Raises:
        NotFound: no such environment.
    """
    env_table = t.environments
    with engine.begin() as conn:
        conn.execute(env_table.update().where(env_table.c.name == name).values(status="deleting"))
        return t.find_environment(conn, name)


def drop_environment(engine: Engine, name: str) -> None:
    """Remove environment ``name`` and its targets once its teardown is done; deployments
    stay (history, DORA). A no-op when it is gone already (teardown retries).

    Raises:
        Conflict: a deployment is still in flight there (abort it first; the message names it).
    """
    with engine.begin() as conn:
        busy = conn.execute(
            sa.select(_D.c.id, _D.c.service, _D.c.state)
            .where(_D.c.environment == name, _D.c.state.not_in(sorted(TERMINAL)))
            .order_by(_D.c.id)
        ).first()
        if busy is not None:
            raise Conflict(
                f"environment {name!r} still has deployment {busy.id} of {busy.service} "
                f"{busy.state}; run `platform deploy abort {busy.service} --env {name}` first",
                details={"name": name, "activeId": busy.id},
            )
        conn.execute(_T.delete().where(_T.c.environment == name))
        conn.execute(t.environments.delete().where(t.environments.c.name == name))


def expired_environments(engine: Engine, now: datetime) -> list[Environment]:
    """Environments whose ``expires_at`` is at or before ``now`` (including ones already
    ``deleting``, so a teardown interrupted by a crash is retried), soonest first."""
    env_table = t.environments
    query = (
        sa.select(env_table)
        .where(env_table.c.expires_at.is_not(None), env_table.c.expires_at <= t.utc(now))
        .order_by(env_table.c.expires_at, env_table.c.name)
    )
    with engine.connect() as conn:
        return [t.to_environment(row) for row in conn.execute(query)]
