"""The reads the API answers on its event loop (``try_*``) on PostgreSQL: they never wait for a
lock, they recover from a lost connection, and they keep their prepared statements. With and
without the bounded read engine (``store.engine.make_read_engine``) the server wires in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.catalog.service import CatalogService
from goldenpath.settings import Settings
from goldenpath.store import engine as engine_module
from goldenpath.store.engine import make_read_engine

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

FILTER = ["kind=component,spec.type=service"]
REF = "component:default/comp-001"


@pytest.fixture(params=["read-engine", "shared-engine"])
def served(
    request: pytest.FixtureRequest,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    file_tree: Any,
) -> Iterator[CatalogService]:
    """A catalog of 30 components, warmed so ``try_*`` reads answer (counts cached)."""
    read_engine = None
    if request.param == "read-engine":
        read_engine = make_read_engine(engine.url.render_as_string(hide_password=False))
    catalog = CatalogService(engine=engine, settings=settings, read_engine=read_engine)
    files = {
        f"c/{i:03d}.yaml": f"""
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata: {{name: comp-{i:03d}}}
            spec:
              type: {"service" if i % 2 else "website"}
              lifecycle: production
              owner: team-a
        """
        for i in range(30)
    }
    file_tree(tmp_path / "cat", files)
    result = catalog.register_location(type="file", target=str(tmp_path / "cat"))
    assert result.report is not None and not result.report.errors
    catalog.query_entities_json(filters=FILTER, limit=5)
    assert catalog.try_query_entities_json(filters=FILTER, limit=5) is not None
    yield catalog
    if read_engine is not None:
        read_engine.dispose()


def _in_thread(call: Any, timeout: float = 20.0) -> Any:
    """``call()`` in a thread, bounded: a read that waited for the lock fails the test."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the read waited for the lock"
    return out[0]


def test_a_fast_read_declines_while_a_bulk_load_holds_the_table(served: CatalogService) -> None:
    """A bulk load rebuilds indexes under an exclusive lock: the event loop's read gives up
    after its lock timeout (the API then serves the request from a worker thread)."""
    with served.engine.connect(), served.engine.connect():
        pass  # two pooled connections: one stays idle for the reads below
    with served.engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE catalog_entities IN ACCESS EXCLUSIVE MODE"))
        page = _in_thread(lambda: served.try_query_entities_json(filters=FILTER, limit=5))
        entity = _in_thread(lambda: served.try_get_entity_json_by_ref(REF))
        holder.rollback()
    assert page is None and entity is None
    after = served.try_query_entities_json(filters=FILTER, limit=5)
    assert after is not None and after.total_items == 15


def _terminate_other_sessions(engine: Engine) -> None:
    """What a database restart or failover does to every pooled connection."""
    with engine.connect() as admin:
        admin.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        admin.commit()


def test_fast_reads_recover_when_the_server_drops_their_connections(
    served: CatalogService,
) -> None:
    """Every session of the database is terminated (a restart, a failover): the next request
    still answers, and the one after it is again a fast read."""
    _terminate_other_sessions(served.engine)
    page = served.try_query_entities_json(filters=FILTER, limit=5)
    if page is None:  # what the API does when the fast read declines
        page = served.query_entities_json(filters=FILTER, limit=5)
    assert page.total_items == 15
    again = served.try_query_entities_json(filters=FILTER, limit=5)
    assert again is not None and again.total_items == 15
    assert served.try_get_entity_json_by_ref(REF) is not None


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    served: CatalogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection idle past ``READ_PING_AFTER_S`` (here: any) is pinged first, so
    the first read after a database restart in a quiet period is still a fast one."""
    monkeypatch.setattr(engine_module, "READ_PING_AFTER_S", 0.0)
    _terminate_other_sessions(served.engine)
    page = served.try_query_entities_json(filters=FILTER, limit=5)
    assert page is not None and page.total_items == 15


def test_reads_keep_their_prepared_statements(served: CatalogService) -> None:
    """psycopg drops a connection's prepared statements when it rolls back: reads end with
    COMMIT (or run in autocommit) so the next request reuses them instead of planning again."""
    for _ in range(4):
        served.query_entities_json(filters=FILTER, limit=5)
        assert served.try_query_entities_json(filters=FILTER, limit=5) is not None
        assert served.try_get_entity_json_by_ref(REF) is not None
    engines = {served.engine, served.read_engine or served.engine}
    for engine in engines:
        with engine.connect() as conn:  # the pool hands back the most recently used one
            prepared = conn.execute(sa.text("SELECT statement FROM pg_prepared_statements"))
            statements = [s.lower() for s in prepared.scalars()]
        assert any("catalog_state" in s for s in statements), engine


def test_a_fast_read_never_waits_for_a_pooled_connection(served: CatalogService) -> None:
    """With every connection it may use busy (worker threads, other readers), the event
    loop's read declines at once instead of waiting for one to come back."""
    engine = served.read_engine or served.engine
    busy = 10 if served.read_engine is not None else engine.pool.checkedin()  # type: ignore[attr-defined]
    held = [engine.connect() for _ in range(busy)]
    try:
        assert _in_thread(lambda: served.try_query_entities_json(filters=FILTER, limit=5)) is None
        assert _in_thread(lambda: served.try_get_entity_json_by_ref(REF)) is None
    finally:
        for conn in held:
            conn.close()
    page = served.try_query_entities_json(filters=FILTER, limit=5)
    assert page is not None and page.total_items == 15
