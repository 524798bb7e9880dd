"""The resources tables on SQLite and PostgreSQL: migration 0008, unique claims, state CAS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from goldenpath.errors import Conflict
from goldenpath.resources import store
from goldenpath.store import migrate
from goldenpath.store.metadata import metadata

TABLES = {"resources_claims", "resources_consumers", "resources_backups"}
NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def _diffs(engine: Engine) -> list[object]:
    def only_ours(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or bool(name and name.startswith("resources_"))

    def only_our_objects(
        obj: object, name: str | None, type_: str, reflected: bool, other: object
    ) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "").startswith("resources_")

    with engine.connect() as conn:
        opts = {"include_name": only_ours, "include_object": only_our_objects}
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def test_migration_0008_matches_the_tables_and_round_trips(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert _diffs(engine) == []
    migrate.downgrade(engine, "0007_policy")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert _diffs(engine) == []


def _values(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "environment": "dev",
        "type": "postgres",
        "size": "small",
        "composition": "local-postgres",
        "message": "provisioning",
        "owner": None,
        "params": {},
        "outputs_ref": [],
        "resource": {},
        "created_at": NOW,
        "created_by": "alice",
        "updated_at": NOW,
        **extra,
    }


def test_one_row_per_name_and_environment_and_state_moves_as_compare_and_set(
    engine: Engine,
) -> None:
    first = store.insert_claim(engine, _values("orders-db"))
    assert first is not None
    assert store.insert_claim(engine, _values("orders-db", size="large")) is None  # the race
    assert store.insert_claim(engine, _values("orders-db", environment="staging")) is not None
    claim = store.load_claim(engine, "orders-db", "dev")
    assert (claim.id, claim.state, claim.size) == (first, "provisioning", "small")

    ready = store.transition(
        engine, claim, "ready", now=NOW, message="ready", values={"outputs_ref": ["ORDERS_DB_URL"]}
    )
    assert (ready.state, ready.outputs_ref) == ("ready", ["ORDERS_DB_URL"])
    with pytest.raises(Conflict, match="changed meanwhile"):
        store.transition(engine, claim, "failed", now=NOW, message="stale writer")  # read earlier
    with pytest.raises(Conflict, match="cannot move from ready to failed"):
        store.transition(engine, ready, "failed", now=NOW, message="x")

    store.add_consumer(engine, first, "orders", now=NOW)
    store.add_consumer(engine, first, "orders", now=NOW)  # idempotent
    store.add_consumer(engine, first, "billing", now=NOW)
    assert store.load_claim(engine, "orders-db", "dev").consumers == ["billing", "orders"]
    assert [c.environment for c in store.list_claims(engine)] == ["dev", "staging"]
    store.transition(engine, ready, "deleted", now=NOW, message="gone")
    assert [c.environment for c in store.list_claims(engine)] == ["staging"]
