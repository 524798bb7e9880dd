"""Page plans and JSON documents: the walk and the set plan serve the same pages; the JSON bytes
the API sends are the entity with its relations; the hot statements read covering indexes
(EXPLAIN QUERY PLAN / EXPLAIN). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import update

from goldenpath.catalog import filters as qf
from goldenpath.catalog.service import CatalogService
from goldenpath.catalog.store import compiled, pages, queries, stitch, where
from goldenpath.catalog.store.tables import catalog_entities


def _component(i: int) -> str:
    return f"""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: comp-{i:03d}, tags: [{"python" if i % 4 else "java"}]}}
        spec:
          type: {"service" if i % 2 else "website"}
          lifecycle: {"production" if i % 3 else "experimental"}
          owner: {"team-a" if i % 7 else "team-b"}
          dependsOn: {"[component:comp-000]" if i else "[]"}
    """


@pytest.fixture
def filled(catalog: CatalogService, tmp_path: Path, file_tree: Any) -> CatalogService:
    files = {
        "org.yaml": """
            apiVersion: backstage.io/v1alpha1
            kind: Group
            metadata: {name: team-a}
            spec: {type: team, children: []}
            ---
            apiVersion: backstage.io/v1alpha1
            kind: Group
            metadata: {name: team-b}
            spec: {type: team, children: []}
        """,
    }
    files.update({f"c/{i:03d}.yaml": _component(i) for i in range(120)})
    file_tree(tmp_path / "cat", files)
    result = catalog.register_location(type="file", target=str(tmp_path / "cat"))
    assert result.report is not None and not result.report.errors
    return catalog


FILTERS = [
    ["kind=component,spec.type=service"],
    ["kind=component,spec.type=service,spec.lifecycle=production"],
    ["kind=component,relations.ownedBy=group:default/team-b"],
    ["spec.type=website", "kind=group"],
    ["kind=component,metadata.tags=java"],
]


def _walk_all(catalog: CatalogService, flt: list[str], *, scope: int, limit: int = 7) -> list[str]:
    """Every matching ref, page by page through the store, with ``scope`` forcing a plan."""
    parsed = qf.parse_filters(flt)
    refs: list[str] = []
    after = None
    with catalog.engine.connect() as conn:
        total = pages.count_matching(conn, parsed, None)
        while True:
            page = pages.query_page(
                conn,
                filters=parsed,
                full_text=None,
                order=None,
                limit=limit,
                after=after,
                total=total,
                scope=scope,
            )
            refs.extend(row[0] for row in page.rows)
            if page.last is None:
                return refs
            after = qf.Cursor(parsed, None, None, *page.last)


@pytest.mark.parametrize("flt", FILTERS)
def test_walk_and_set_plans_serve_the_same_pages(filled: CatalogService, flt: list[str]) -> None:
    walked = _walk_all(filled, flt, scope=1)  # density looks high: walk
    collected = _walk_all(filled, flt, scope=10**9)  # density looks tiny: set plan
    everything = filled.query_entities(filters=flt, limit=500)
    expected = sorted(
        f"{e['kind']}:{e['metadata']['namespace']}/{e['metadata']['name']}".lower()
        for e in everything.items
    )
    assert walked == collected == expected
    assert len(expected) == everything.total_items > 7  # several pages were walked


def test_plan_choice_follows_density() -> None:
    flt = qf.parse_filters(["kind=component,spec.type=service"])
    assert pages._walks(flt, None, None, 50, total=30_000, scope=60_000)
    assert not pages._walks(flt, None, None, 50, total=60, scope=60_000)
    # a team's 81 components of 5,990: a 3,771-row walk (~20 ms) against a set of 81 (~1 ms)
    assert not pages._walks(flt, None, None, 50, total=81, scope=5_990)
    # 1,753 matches of 5,990: a 174-row walk (~1 ms) against a set of 1,753+ (~12 ms)
    assert pages._walks(flt, None, None, 50, total=1_753, scope=5_990)
    assert not pages._walks(flt, "text", None, 50, total=30_000, scope=60_000)
    assert not pages._walks(flt, None, qf.Order("metadata.name"), 50, total=30_000, scope=60_000)


def test_json_documents_are_the_entities_with_sorted_relations(filled: CatalogService) -> None:
    doc = filled.get_entity_json_by_ref("component:default/comp-000")
    entity = orjson.loads(doc)
    assert entity == filled.get_entity_by_ref("Component:default/COMP-000")
    assert entity["metadata"]["name"] == "comp-000"
    rel = entity["relations"]
    assert rel == sorted(rel, key=lambda r: (r["type"], r["targetRef"]))
    assert {
        "type": "ownedBy",
        "targetRef": "group:default/team-b",
        "target": {"kind": "group", "namespace": "default", "name": "team-b"},
    } in rel
    dependents = [r for r in rel if r["type"] == "dependencyOf"]
    assert len(dependents) == 119 == len({r["targetRef"] for r in dependents})
    uid = entity["metadata"]["uid"]
    assert orjson.loads(filled.get_entity_json_by_uid(uid)) == entity


def test_json_pages_match_dict_pages_and_project_fields(filled: CatalogService) -> None:
    query = {"filters": ["kind=component,spec.type=service"], "limit": 9}
    as_json = filled.query_entities_json(**query)
    as_dicts = filled.query_entities(**query)
    assert [orjson.loads(d) for d in as_json.items] == as_dicts.items
    assert as_json.next_cursor == as_dicts.next_cursor and as_json.total_items == 60
    slim = filled.query_entities_json(**query, fields=["metadata.name"])
    assert orjson.loads(slim.items[0]) == {"metadata": {"name": "comp-001"}}
    refs = filled.get_entities_json_by_refs(["component:comp-003", "component:nope"])
    assert refs[1] is None and orjson.loads(refs[0] or b"")["metadata"]["name"] == "comp-003"


def test_a_stored_document_with_its_own_relations_is_not_doubled(filled: CatalogService) -> None:
    """Documents are spliced as bytes; an unusual stored shape takes the parsing path."""
    ref = "component:default/comp-005"
    with filled.engine.begin() as conn:
        stored = conn.execute(
            catalog_entities.select().where(catalog_entities.c.entity_ref == ref)
        ).one()
        odd = orjson.loads(stored.entity) | {"relations": [{"type": "stale"}]}
        conn.execute(
            update(catalog_entities)
            .where(catalog_entities.c.entity_ref == ref)
            .values(entity=orjson.dumps(odd).decode())
        )
    with filled.engine.connect() as conn:
        doc = queries.entity_json_by_ref(conn, ref)
    assert doc is not None and doc.count(b'"relations"') == 1
    assert {"type": "stale"} not in orjson.loads(doc)["relations"]


def test_a_sparse_first_page_counts_its_matches_and_pages_on(filled: CatalogService) -> None:
    flt = ["kind=component,relations.ownedBy=group:default/team-b"]
    first = filled.query_entities(filters=flt, limit=5)
    assert first.total_items == 18  # comp-000, comp-007, … comp-119
    names = [e["metadata"]["name"] for e in first.items]
    cursor = first.next_cursor
    while cursor:
        page = filled.query_entities(cursor=cursor, limit=5)
        assert page.total_items == 18
        names.extend(e["metadata"]["name"] for e in page.items)
        cursor = page.next_cursor
    assert names == [f"comp-{i:03d}" for i in range(0, 120, 7)]


#: how each database's plan says a scan never visits the table
_INDEX_ONLY = {"sqlite": "covering index", "postgresql": "index only scan"}


def _plan(conn: Any, stmt: Any, params: dict[str, Any]) -> str:
    """The database's plan of a compiled hot statement, as one lower-cased string."""
    compiled_stmt = compiled.statement(conn, ("plan-test", str(stmt)), lambda: stmt)
    values = {**compiled_stmt.defaults, **params}
    raw = conn.connection.driver_connection
    cursor = raw.cursor()
    try:
        if conn.dialect.name == "sqlite":
            args: Any = [values[n] for n in compiled_stmt.positions or ()]
            cursor.execute("EXPLAIN QUERY PLAN " + compiled_stmt.sql, args)
        else:  # tiny tables: make the planner show what it does at scale
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + compiled_stmt.sql, values)
        return " ".join(str(row) for row in cursor.fetchall()).lower()
    finally:
        cursor.close()


def test_relations_are_stitched_from_the_covering_index(filled: CatalogService) -> None:
    refs = ["component:default/comp-001", "component:default/comp-002"]
    with filled.engine.connect() as conn:
        plan = _plan(conn, stitch._relations_of(8, False), compiled.in_params("r", refs, 8))
    assert "ix_catalog_relations_source_type_target" in plan
    assert _INDEX_ONLY[filled.engine.dialect.name] in plan
    assert "temp b-tree" not in plan and "sort" not in plan


def test_an_owner_filter_reads_the_relations_index_only(filled: CatalogService) -> None:
    flt = qf.parse_filters(["kind=component,relations.ownedBy=group:default/team-b"])
    with filled.engine.connect() as conn:
        shape = where.shape_of(flt, None)
        stmt = sa.select(catalog_entities.c.entity_ref).where(
            where.clause(conn.dialect.name, shape)
        )
        plan = _plan(conn, stmt, where.params_of(flt, None, conn.dialect.name))
    assert "ix_catalog_relations_target_type_source" in plan
    assert _INDEX_ONLY[filled.engine.dialect.name] in plan


def test_filters_of_one_shape_share_one_statement(filled: CatalogService) -> None:
    """The SQL depends on the filter's shape only; values are parameters (and answers differ)."""
    a = qf.parse_filters(["kind=component,spec.owner=team-a"])
    b = qf.parse_filters(["kind=component,spec.owner=team-b"])
    assert where.shape_of(a, None) == where.shape_of(b, None)
    assert where.params_of(a, None, "sqlite") != where.params_of(b, None, "sqlite")
    owners = {
        e["spec"]["owner"]
        for flt in (["kind=component,spec.owner=team-a"], ["kind=component,spec.owner=team-b"])
        for e in filled.query_entities(filters=flt, limit=500).items
    }
    assert owners == {"team-a", "team-b"}
    assert filled.query_entities(filters=["kind=component,spec.owner=team-b"]).total_items == 18


def _generic_plan(conn: Any, stmt: Any, params: dict[str, Any]) -> str:
    """PostgreSQL's generic plan of ``stmt`` (the one a prepared statement switches to after
    five executions): ``PREPARE`` it with ``$n`` placeholders, ``EXPLAIN EXECUTE`` it."""
    made = stmt.compile(dialect=conn.dialect)
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", number, made.string)
    values = {**{k: v for k, v in made.params.items() if v is not None}, **params}
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(f"PREPARE plan_test AS {sql}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        args = ", ".join(_literal(values[n]) for n in names)
        cursor.execute(f"EXPLAIN EXECUTE plan_test({args})")
        plan = " ".join(str(row[0]) for row in cursor.fetchall()).lower()
        cursor.execute("DEALLOCATE plan_test")
    return plan


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("flt", FILTERS[:3])
@pytest.mark.parametrize("statement", ["first window", "later window"])
def test_a_walk_probes_its_window_even_with_a_generic_plan(
    filled: CatalogService, flt: list[str], statement: str
) -> None:
    """Walks are prepared statements; a generic plan that turned the probes into a semi-join
    over the condition's index read every matching row of the catalog (253 ms at 100k)."""
    parsed = qf.parse_filters(flt)
    params = where.params_of(parsed, None, "postgresql") | {
        "kind": "component",
        "last": "component:default/comp-010",
        "size": 30,
        "lo": "component:default/comp-010",
        "hi": "component:default/comp-040",
        "n": 8,
    }
    shape = where.shape_of(parsed, None)
    if statement == "first window":
        stmt = pages.walk_rows("postgresql", shape, kind=True, after=True, size=32)
    else:
        stmt = pages._walk_between("postgresql", shape)
    with filled.engine.connect() as conn:
        plan = _generic_plan(conn, stmt, params)
    assert "subplan" in plan
    assert "semi join" not in plan and "hash" not in plan
    assert "index scan using uq_catalog_entities_entity_ref" in plan
