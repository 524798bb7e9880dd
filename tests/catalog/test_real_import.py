"""Import the real catalog files of ../shared/fixtures/real/backstage-catalog (248 files).

Nothing may be lost: every valid document becomes an entity (or, when another file already
defines the same ref, a conflict error), every invalid document is listed in the errors with
its reason, and the counts add up. Location entities in these files point at targets that are
mostly absent from the fixture copy (or on github.com, unreachable here): those are reported as
read errors on the Location entity, never fatal. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from goldenpath.catalog.service import CatalogService

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real"
CATALOG = FIXTURES / "backstage-catalog"


@pytest.fixture
def real_catalog() -> Path:
    if not CATALOG.is_dir():
        pytest.skip(f"real fixtures not found at {CATALOG} (clone ../shared beside the repo)")
    return CATALOG.resolve()


def _all_entities(svc: CatalogService) -> dict[str, dict]:
    out: dict[str, dict] = {}
    page = svc.query_entities(limit=500)
    while True:
        for e in page.items:
            ref = f"{e['kind']}:{e['metadata'].get('namespace', 'default')}/{e['metadata']['name']}"
            out[ref.lower()] = e
        if not page.next_cursor:
            return out
        page = svc.query_entities(cursor=page.next_cursor, limit=500)


def _all_errors(svc: CatalogService) -> list[dict]:
    errors: list[dict] = []
    while True:
        batch = svc.list_errors(after=errors[-1]["id"] if errors else None)
        if not batch:
            return errors
        errors.extend(batch)


def test_real_catalog_imports_without_losing_anything(
    catalog: CatalogService, real_catalog: Path
) -> None:
    docs = [d for d in catalog.validate_documents([real_catalog]) if not d.ignored]
    valid = [d for d in docs if d.valid]
    invalid = [d for d in docs if not d.valid]
    assert len(docs) >= 472 and len(valid) >= 400 and invalid

    result = catalog.register_location(type="file", target=str(real_catalog))
    assert result.report is not None
    entities = _all_entities(catalog)
    errors = _all_errors(catalog)

    # every valid document is stored, or lost a ref conflict to an earlier file (reported)
    conflicts = {(e["source"], e["index"]) for e in errors if e["stage"] == "conflict"}
    for doc in valid:
        assert doc.ref in entities or (doc.source, doc.index) in conflicts, doc.ref
    stored = [r for r in entities if not r.startswith("location:default/generated-")]
    assert len(stored) + len(conflicts) == len(valid)

    # every invalid document is listed with its file, position and reason
    by_doc = {(e["source"], e["index"]): e for e in errors}
    for doc in invalid:
        err = by_doc.get((doc.source, doc.index))
        assert err is not None and err["message"], (doc.source, doc.index)
    assert {d.ref for d in invalid if d.ref} <= set(result.report.invalid)

    # relations derived in processing are stored and visible from their source entity
    owners = {d.ref: d for d in valid}
    for ref, entity in entities.items():
        doc = owners.get(ref)
        if doc is None or ref.startswith("location:"):
            continue
        stored_rels = {(r["type"], r["targetRef"]) for r in entity["relations"]}
        own = {(r.type, r.target) for r in doc.relations if r.source == ref}
        if (doc.source, doc.index) not in conflicts and (
            entity["metadata"]["annotations"]["backstage.io/managed-by-location"]
            == f"file:{doc.source}"
        ):
            assert own <= stored_rels, ref

    # Location targets that are absent here are read errors on the Location entity, not fatal
    stages = Counter(e["stage"] for e in errors)
    assert stages["read"] > 0
    read_refs = {e["entityRef"] for e in errors if e["stage"] == "read"}
    for ref in read_refs:
        items = entities[ref].get("status", {}).get("items", [])
        assert items and items[0]["type"] == "backstage.io/catalog-processing"


def test_real_catalog_refresh_is_a_no_op(catalog: CatalogService, real_catalog: Path) -> None:
    catalog.register_location(type="file", target=str(real_catalog))
    report = catalog.refresh()
    assert report.added == [] and report.updated == [] and report.orphaned == []
    assert len(report.unchanged) >= 400
