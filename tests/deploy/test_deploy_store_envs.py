"""Environments in the store (defaults, ephemeral with TTL, delete) and migration 0005, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from goldenpath.deploy import store
from goldenpath.deploy.records import DEFAULT_ENVIRONMENTS
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.store import migrate
from goldenpath.store.metadata import metadata

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DEPLOY_TABLES = {
    "deploy_environments",
    "deploy_deployments",
    "deploy_transitions",
    "deploy_targets",
}


def deploy(engine: Engine, environment: str, service: str = "shop") -> int:
    return store.create_deployment(
        engine,
        service=service,
        environment=environment,
        kind="deploy",
        strategy="rolling",
        repo=None,
        ref=None,
        workload={"name": service},
        steps=[{"rollingUpdate": {"maxSurge": 1}}],
        triggered_by="ada",
    ).id


def test_default_environments_are_created_once(engine: Engine) -> None:
    store.ensure_environments(engine, DEFAULT_ENVIRONMENTS, now=T0)
    store.create_environment(engine, name="qa", settings={"portBase": 9100}, created_by="ada")
    store.ensure_environments(engine, [*DEFAULT_ENVIRONMENTS, "qa"], now=T0 + timedelta(days=1))
    envs = store.list_environments(engine)
    assert [e.name for e in envs] == ["dev", "production", "qa", "staging"]
    dev = store.get_environment(engine, "dev")
    assert (dev.driver, dev.settings, dev.ephemeral, dev.status) == ("local", {}, False, "active")
    assert dev.created_at == T0 and dev.created_by == "system"
    qa = store.get_environment(engine, "qa")
    assert qa.settings == {"portBase": 9100} and qa.created_by == "ada"
    with pytest.raises(InvalidInput, match="'Prod' is not a DNS label"):
        store.ensure_environments(engine, ["Prod"])
    assert len(store.list_environments(engine)) == 4


def test_an_ephemeral_environment_keeps_its_parent_and_ttl(engine: Engine) -> None:
    store.ensure_environments(engine, ["dev"])
    expires = datetime(2026, 6, 2, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    env = store.create_environment(
        engine,
        name="pr-42",
        settings={"replicas": 1},
        parent="dev",
        ephemeral=True,
        expires_at=expires,
        created_by="ci",
        now=T0,
    )
    assert (env.parent, env.ephemeral, env.created_by) == ("dev", True, "ci")
    assert env.expires_at == expires and env.expires_at.utcoffset() == timedelta(0)
    assert store.get_environment(engine, "pr-42") == env
    assert env.to_dict()["expiresAt"] == "2026-06-02T08:00:00Z"


def test_environment_creation_errors_change_nothing(engine: Engine) -> None:
    store.ensure_environments(engine, ["dev"])
    with pytest.raises(Conflict, match="environment 'dev' already exists"):
        store.create_environment(engine, name="dev", settings={"x": 1}, created_by="ada")
    with pytest.raises(NotFound, match="'nope' does not exist; known: dev"):
        store.create_environment(engine, name="pr-1", parent="nope", created_by="ada")
    with pytest.raises(InvalidInput, match=r"e\.g\. 'pr-1'"):
        store.create_environment(engine, name="PR_1", created_by="ada")
    with pytest.raises(InvalidInput, match="settings is not plain JSON"):
        store.create_environment(engine, name="pr-1", settings={"x": object()}, created_by="a")
    assert [e.name for e in store.list_environments(engine)] == ["dev"]
    assert store.get_environment(engine, "dev").settings == {}
    with pytest.raises(NotFound, match="known: dev"):
        store.get_environment(engine, "pr-1")


def test_expired_environments_are_listed_soonest_first(engine: Engine) -> None:
    store.ensure_environments(engine, DEFAULT_ENVIRONMENTS)
    for name, hours in (("pr-3", 3), ("pr-1", 1), ("pr-2", 2)):
        store.create_environment(
            engine,
            name=name,
            parent="dev",
            ephemeral=True,
            expires_at=T0 + timedelta(hours=hours),
            created_by="ci",
        )
    assert store.expired_environments(engine, T0) == []
    later = T0 + timedelta(hours=2)
    assert [e.name for e in store.expired_environments(engine, later)] == ["pr-1", "pr-2"]
    store.mark_environment_deleting(engine, "pr-1")  # a teardown that crashed is retried
    assert [e.name for e in store.expired_environments(engine, later)] == ["pr-1", "pr-2"]
    naive_utc = (T0 + timedelta(hours=5)).replace(tzinfo=None)
    assert len(store.expired_environments(engine, naive_utc)) == 3


def test_deleting_an_environment_keeps_its_history(engine: Engine) -> None:
    store.ensure_environments(engine, ["dev"])
    store.create_environment(engine, name="pr-7", parent="dev", ephemeral=True, created_by="ci")
    first = deploy(engine, "pr-7")
    for state in ("building", "progressing", "succeeded"):
        store.transition(engine, first, state, actor="reconciler", reason=state)
    busy = deploy(engine, "pr-7", service="cart")
    marked = store.mark_environment_deleting(engine, "pr-7")
    assert marked.status == "deleting"
    assert store.mark_environment_deleting(engine, "pr-7") == marked
    with pytest.raises(Conflict, match="'pr-7' is being deleted"):
        deploy(engine, "pr-7", service="other")
    with pytest.raises(Conflict, match=f"deployment {busy} of cart pending"):
        store.drop_environment(engine, "pr-7")
    assert store.get_environment(engine, "pr-7").status == "deleting"
    store.transition(engine, busy, "aborted", actor="ci", reason="environment deleted")
    store.drop_environment(engine, "pr-7")
    store.drop_environment(engine, "pr-7")  # a retried teardown is a no-op
    assert [e.name for e in store.list_environments(engine)] == ["dev"]
    assert store.list_targets(engine, environment="pr-7") == []
    history = store.list_deployments(engine, environment="pr-7")
    assert [(d.id, d.state) for d in history] == [(busy, "aborted"), (first, "succeeded")]
    with pytest.raises(NotFound):
        store.mark_environment_deleting(engine, "pr-7")
    # the name can be used again, from scratch
    store.create_environment(engine, name="pr-7", created_by="ci")
    assert deploy(engine, "pr-7") > busy


def _deploy_diffs(engine: Engine) -> list[object]:
    def only_deploy(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or bool(name and name.startswith("deploy_"))

    def only_deploy_objects(
        obj: object, name: str | None, type_: str, reflected: bool, other: object
    ) -> bool:
        # Other tests may declare more tables on the shared metadata: compare ours only.
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "").startswith("deploy_")

    import goldenpath.deploy.store  # noqa: F401  (declares the tables on metadata)

    with engine.connect() as conn:
        opts = {"include_name": only_deploy, "include_object": only_deploy_objects}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, metadata))


def test_migration_0005_matches_the_tables_and_round_trips(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= DEPLOY_TABLES
    assert _deploy_diffs(engine) == []
    migrate.downgrade(engine, "0004_scaffolder")
    names = set(sa.inspect(engine).get_table_names())
    assert not DEPLOY_TABLES & names and "scaffolder_tasks" in names
    migrate.upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= DEPLOY_TABLES
    assert _deploy_diffs(engine) == []
