"""Processing in a worker pool stores exactly what in-process processing stores.

Workers derive each new entity's rows (content hash, stored JSON, search rows, relations,
full text); the writer inserts them as they are. These tests register the same catalog both
ways and compare what a user can see, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.catalog import ingest
from goldenpath.catalog.service import CatalogService

TREE = {
    "org.yaml": """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a, title: Team A}
spec: {type: team, children: [], members: [ada]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec: {memberOf: [team-a], profile: {email: ada@example.com}}
""",
    "svc/catalog-info.yaml": """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Orders
  description: Takes orders
  tags: [python, payments]
  annotations: {github.com/project-slug: acme/orders}
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: shop
  dependsOn: [resource:orders-db, component:missing-one]
  providesApis: [orders-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders-api}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./openapi.txt
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: Bad Name!}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
""",
    "svc/openapi.txt": "openapi: 3.0.0\ninfo: {title: Orders, version: '1'}\npaths: {}\n",
    "more/location.yaml": """
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: more}
spec: {targets: [./db.yaml, ./absent.yaml]}
""",
    "more/db.yaml": """
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: orders-db, description: "x" }
spec: {type: database, owner: team-a, system: shop}
""",
}


def _snapshot(engine: Engine, catalog: CatalogService) -> dict[str, Any]:
    """What the store holds, without uids/etags/location ids (they differ run to run)."""
    with engine.connect() as conn:
        refs = {
            r[0]: r[1] for r in conn.execute(sa.text("SELECT id, entity_ref FROM catalog_entities"))
        }
        search = sorted(
            (refs[row_id], key, value, original)
            for row_id, key, value, original in conn.execute(
                sa.text("SELECT entity_row_id, key, value, original_value FROM catalog_search")
            )
        )
        relations = sorted(
            (refs[row_id], s, t, g)
            for row_id, s, t, g in conn.execute(sa.text("SELECT * FROM catalog_relations"))
        )
        rows = conn.execute(
            sa.text("SELECT entity_ref, hash, search_text, location_key FROM catalog_entities")
        )
        hashes = sorted(tuple(r) for r in rows)
    entities = []
    for item in catalog.query_entities(limit=500).items:
        meta = {k: v for k, v in item["metadata"].items() if k not in ("uid", "etag")}
        entities.append({**item, "metadata": meta})
    errors = sorted(
        (e["source"], e["index"], e["entityRef"], e["stage"], e["path"], e["message"])
        for e in catalog.list_errors()
    )
    found = catalog.query_entities(full_text="payments").items
    return {
        "entities": entities,
        "search": search,
        "relations": relations,
        "hashes": hashes,
        "errors": errors,
        "full_text": [e["metadata"]["name"] for e in found],
    }


def _register(catalog: CatalogService, root: Path, threshold: int) -> Any:
    ingest.POOL_THRESHOLD = threshold
    return catalog.register_location(type="file", target=str(root))


@pytest.fixture()
def restore_threshold() -> Any:
    before = ingest.POOL_THRESHOLD
    yield
    ingest.POOL_THRESHOLD = before


def test_pool_and_in_process_store_the_same_catalog(
    catalog: CatalogService, engine: Engine, tmp_path: Path, file_tree: Any, restore_threshold: Any
) -> None:
    root = file_tree(tmp_path / "cat", TREE)
    pooled = _register(catalog, root, 1)
    seen = _snapshot(engine, catalog)
    catalog.delete_location(pooled.location["id"])
    local = _register(catalog, root, 10**9)

    assert _snapshot(engine, catalog) == seen
    assert pooled.report is not None and local.report is not None
    assert sorted(pooled.report.added) == sorted(local.report.added)
    assert "api:default/orders-api" in pooled.report.added
    assert seen["full_text"] == ["Orders"]
    assert any(e[3] == "conflict" for e in seen["errors"])  # the second group:team-a


def test_hashes_from_workers_match_the_writers_own(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, restore_threshold: Any
) -> None:
    root = file_tree(tmp_path / "cat", TREE)
    _register(catalog, root, 1)
    ingest.POOL_THRESHOLD = 10**9
    catalog._memos.clear()  # process every file again (no skipping of unchanged files)
    in_process = catalog.refresh()
    ingest.POOL_THRESHOLD = 1
    catalog._memos.clear()
    pooled = catalog.refresh()

    assert not in_process.updated and not in_process.added and in_process.unchanged
    assert not pooled.updated and sorted(pooled.unchanged) == sorted(in_process.unchanged)


def test_a_changed_file_is_an_update_that_keeps_the_uid_in_the_pool(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, restore_threshold: Any
) -> None:
    root = file_tree(tmp_path / "cat", TREE)
    _register(catalog, root, 1)
    before = catalog.get_entity_by_ref("component:default/orders")
    (root / "svc" / "catalog-info.yaml").write_text(
        TREE["svc/catalog-info.yaml"].replace("Takes orders", "Takes all the orders")
    )
    report = catalog.refresh()

    after = catalog.get_entity_by_ref("component:default/orders")
    assert report.updated == ["component:default/orders"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["etag"] != before["metadata"]["etag"]
    assert after["metadata"]["description"] == "Takes all the orders"
    found = catalog.query_entities(filters=["metadata.description=takes all the orders"])
    assert [e["metadata"]["name"] for e in found.items] == ["Orders"]


def test_unchanged_files_are_skipped_after_a_pooled_pass(
    catalog: CatalogService,
    tmp_path: Path,
    file_tree: Any,
    restore_threshold: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from goldenpath.catalog import filememo

    monkeypatch.setattr(filememo, "SETTLE_NS", 0)  # files count as settled at once
    root = file_tree(tmp_path / "cat", TREE)
    _register(catalog, root, 1)
    # remembered: org.yaml and more/db.yaml (a Location's target); not the Location file
    # or svc/catalog-info.yaml (a $text placeholder and a rejected document)
    assert [len(m) for m in catalog._memos.values()] == [2]
    assert catalog.refresh().unchanged
    (root / "more" / "db.yaml").write_text(TREE["more/db.yaml"].replace('"x"', '"xy"'))
    report = catalog.refresh()

    assert report.updated == ["resource:default/orders-db"]
    assert not report.added and not report.orphaned
    assert {"group:default/team-a", "user:default/ada"} < set(report.unchanged)
    assert catalog.get_entity_by_ref("resource:orders-db")["metadata"]["description"] == "xy"


DOC = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c-{i}
  description: bulk{i} component
spec:
  type: service
  lifecycle: production
  owner: group:team-{g}
"""


def test_bulk_load_fills_full_text_and_later_inserts_are_indexed(
    catalog: CatalogService, engine: Engine, tmp_path: Path, file_tree: Any, restore_threshold: Any
) -> None:
    files = {
        f"f{f:02d}.yaml": "---\n".join(DOC.format(i=f * 100 + j, g=j % 10) for j in range(100))
        for f in range(55)
    }
    root = file_tree(tmp_path / "big", files)
    _register(catalog, root, 1)  # 5,501 new entities: the bulk path (indexes rebuilt)
    late = file_tree(tmp_path / "late", {"c.yaml": DOC.format(i="late", g=1)})
    _register(catalog, late, 10**9)  # a small write: the per-row full-text path

    assert catalog.query_entities(full_text="bulk4321").total_items == 1
    assert catalog.query_entities(full_text="bulklate").total_items == 1
    assert catalog.query_entities(full_text="component").total_items == 5501
    owned = catalog.query_entities(filters=["relations.ownedBy=group:default/team-3"], limit=5)
    assert owned.total_items == 550
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            triggers = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")
            }
        assert {"catalog_entities_fts_ai", "catalog_entities_fts_ad"} <= triggers
    names = {ix["name"] for ix in sa.inspect(engine).get_indexes("catalog_entities")}
    assert "ix_catalog_entities_kind_ref" in names
    if engine.dialect.name == "postgresql":
        assert "ix_catalog_entities_search_tsv" in names


def test_a_removed_file_orphans_its_entities_in_the_pool(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, restore_threshold: Any
) -> None:
    root = file_tree(tmp_path / "cat", TREE)
    _register(catalog, root, 1)
    (root / "more" / "db.yaml").unlink()
    report = catalog.refresh()

    orphan = catalog.get_entity_by_ref("resource:default/orders-db")
    assert report.orphaned == ["resource:default/orders-db"]
    assert orphan["metadata"]["annotations"]["backstage.io/orphan"] == "true"
    assert "component:default/orders" in report.unchanged


#: run in a child process of its own, with SIGTERM and SIGINT handled the way the API
#: server's process handles them (uvicorn's handler notes that it should exit, no more):
#: a regression hangs there, and the test kills it, instead of hanging the suite
_SERVER_LIKE = """
import json, signal, sys, time
from pathlib import Path
import psutil
from goldenpath.catalog import ingest, locations, processing

def note_exit(signum, frame):
    pass

signal.signal(signal.SIGTERM, note_exit)
signal.signal(signal.SIGINT, note_exit)
out = {}
try:
    with ingest.worker_pool(2) as pool:
        out["term"] = str(pool.apply(signal.getsignal, (signal.SIGTERM,)))
        out["int"] = str(pool.apply(signal.getsignal, (signal.SIGINT,)))
        raise RuntimeError("a pass that fails: the pool is terminated, by SIGTERM")
except RuntimeError:
    out["after_error"] = len(psutil.Process().children())
init = ingest._init_worker
def slow_start():
    time.sleep(0.5)  # the SIGTERM of the failed pass comes before the handlers are set
    init()
ingest._init_worker = slow_start
try:
    with ingest.worker_pool(2):
        raise RuntimeError("a pass that fails while its workers are still starting")
except RuntimeError:
    out["after_early_error"] = len(psutil.Process().children())
ingest._init_worker = init
ingest.POOL_THRESHOLD = 1
root = Path(sys.argv[1])
paths = sorted(root.rglob("*.yaml"))
files = [locations.SourceFile(p, f"file:{p}", "location:default/x") for p in paths]
rules = processing.KindRules(frozenset(["*"]))
for _ in range(5):
    process = ingest.Processor(
        rules=rules, origin="file:x", roots=[], max_bytes=10**6, max_aliases=100
    )
    done = process(files)
    out.setdefault("documents", []).append(sum(len(d) for d in done))
    out.setdefault("children", []).append(len(psutil.Process().children()))
out["parent_term_kept"] = signal.getsignal(signal.SIGTERM) is note_exit
print(json.dumps(out))
"""


def test_pool_workers_end_in_a_process_whose_sigterm_only_notes_it(
    tmp_path: Path, file_tree: Any
) -> None:
    """Forked workers do not keep the server's signal handlers, so ``Pool.terminate()``'s
    SIGTERM ends them — also one sent while a worker is still starting — and every pooled
    pass leaves no worker behind. (They kept uvicorn's handler: an import through the API
    waited forever for a worker, 2 in 22 tries; and a SIGTERM that came before a worker had
    reset it was lost, ~1 % of pools failed at once.)"""
    root = file_tree(tmp_path / "cat", TREE)
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER_LIKE, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # with the workers, which hold its pipes open
        child.communicate()
        pytest.fail("a pooled pass hung in a process that handles SIGTERM like the server")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # any worker it left behind
    assert child.returncode == 0, stderr
    out = json.loads(stdout)
    assert out["term"] == str(signal.SIG_DFL) and out["int"] == str(signal.SIG_IGN)
    assert out["after_error"] == 0 and out["after_early_error"] == 0
    assert out["documents"] == [out["documents"][0]] * 5 and out["documents"][0] >= 5
    assert out["children"] == [0] * 5
    assert out["parent_term_kept"] is True
