"""A load that at least doubles the catalog rebuilds the search/relation indexes: same answers.

Runs on SQLite and PostgreSQL with 6,000 generated components (over the bulk threshold).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.catalog.service import CatalogService

DOC = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c-{i}
  tags: [t{t}]
spec:
  type: service
  lifecycle: production
  owner: group:team-{g}
"""


def test_bulk_load_keeps_indexes_and_answers(
    catalog: CatalogService, engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for f in range(60):
        docs = [DOC.format(i=f * 100 + j, t=j % 7, g=j % 10) for j in range(100)]
        (root / f"f{f:02d}.yaml").write_text("---\n".join(docs))
    indexes_before = {
        t: {ix["name"] for ix in sa.inspect(engine).get_indexes(t)}
        for t in ("catalog_search", "catalog_relations")
    }

    report = catalog.register_location(type="file", target=str(root)).report

    assert report is not None and len(report.added) == 6001
    for table, names in indexes_before.items():
        assert {ix["name"] for ix in sa.inspect(engine).get_indexes(table)} == names
    owned = catalog.query_entities(filters=["relations.ownedBy=group:default/team-3"], limit=5)
    assert owned.total_items == 600 and len(owned.items) == 5
    facets = catalog.facets(facets=["metadata.tags"])["metadata.tags"]
    assert sum(f["count"] for f in facets) == 6000
    assert catalog.get_entity_by_ref("component:c-5999")["metadata"]["tags"] == ["t1"]  # 99 % 7
    assert catalog.refresh().unchanged and not catalog.refresh().updated
    if engine.dialect.name == "postgresql":
        # vacuumed after the load, so index-only scans need not wait for autovacuum
        with engine.connect() as conn:
            vacuumed = conn.execute(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
                    " AND relname LIKE 'catalog_%'"
                )
            ).scalars()
            assert {"catalog_entities", "catalog_search", "catalog_relations"} <= set(vacuumed)


def test_dense_filtered_pages_walk_every_match_once_in_order(
    catalog: CatalogService, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for f in range(30):
        docs = [DOC.format(i=f * 100 + j, t=j % 2, g=j % 10) for j in range(100)]
        (root / f"f{f:02d}.yaml").write_text("---\n".join(docs))
    catalog.register_location(type="file", target=str(root))

    seen: list[str] = []
    page = catalog.query_entities(
        filters=["kind=component,metadata.tags=t1"], limit=200, fields="metadata.name"
    )
    assert page.total_items == 1500
    while True:
        seen.extend(e["metadata"]["name"] for e in page.items)
        if not page.next_cursor:
            break
        page = catalog.query_entities(cursor=page.next_cursor, limit=200)
    expected = sorted(f"c-{i}" for i in range(3000) if (i % 100) % 2 == 1)
    assert seen == expected


def test_json_rows_arrive_exactly_as_sent(engine: Engine) -> None:
    """Rows given as JSON (read by the database itself) keep tabs, quotes, unicode and nulls."""
    import orjson

    from goldenpath.catalog.store import bulk
    from goldenpath.catalog.store.tables import catalog_search

    odd = ["tab\there", 'line\nbreak \\ back"slash', "ünïcødé ✓", "it's", None]
    rows = [("uid-1", f"k{i}", v, v) for i, v in enumerate(odd)]
    with engine.begin() as conn:
        # rows of an entity that does not exist: no foreign key checks for this test
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
        else:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        bulk.insert_json_rows(
            conn,
            catalog_search,
            ("entity_id", "key", "value", "original_value"),
            [orjson.dumps(rows[:2]), b"[]", orjson.dumps(rows[2:])],
        )
        got = conn.execute(
            sa.text("SELECT entity_id, key, value, original_value FROM catalog_search ORDER BY key")
        ).all()
        conn.rollback()
    assert [tuple(r) for r in got] == rows
