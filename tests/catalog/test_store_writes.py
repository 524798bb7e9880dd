"""The store's write step (``store.writes.apply``) on SQLite and PostgreSQL: derived rows
follow their entity's row id, also when the entity went away during the pass."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from goldenpath.catalog.model import Relation
from goldenpath.catalog.service import CatalogService
from goldenpath.catalog.store import writes
from goldenpath.catalog.store.tables import catalog_entities, catalog_search

DOCS = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: kept, tags: [a]}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: gone}
spec: {type: service, lifecycle: production, owner: team-a}
"""


def test_derived_rows_of_an_entity_deleted_meanwhile_are_skipped(
    catalog: CatalogService, tmp_path: Path
) -> None:
    """A refresh planned an update of two entities; one was deleted (by uid, another
    request) before the pass wrote: the other's rows are rewritten, the pass does not fail."""
    (tmp_path / "catalog-info.yaml").write_text(DOCS)
    catalog.register_location(type="file", target=str(tmp_path / "catalog-info.yaml"))
    kept = catalog.get_entity_by_ref("component:kept")
    gone = catalog.get_entity_by_ref("component:gone")
    kept["metadata"]["tags"] = ["b"]
    owner = Relation("component:default/kept", "ownedBy", "group:default/team-b")
    e, s = catalog_entities.c, catalog_search.c
    with catalog.engine.begin() as conn:
        conn.execute(catalog_entities.delete().where(e.entity_id == gone["metadata"]["uid"]))
        planned = writes.Writes(
            derived=[
                (kept["metadata"]["uid"], kept, [owner]),
                (gone["metadata"]["uid"], gone, []),
            ]
        )
        writes.apply(conn, planned)
    with catalog.engine.connect() as conn:
        tags = conn.execute(
            sa.select(s.value)
            .join(catalog_entities, e.id == s.entity_row_id)
            .where(e.entity_ref == "component:default/kept", s.key == "metadata.tags")
        ).scalars()
        assert list(tags) == ["b"]
        assert conn.execute(sa.select(sa.func.count()).select_from(catalog_entities)).scalar() == 2
    assert [r["targetRef"] for r in catalog.get_entity_by_ref("component:kept")["relations"]] == [
        "group:default/team-b"
    ]
