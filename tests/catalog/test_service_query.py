"""Reads and search: filters, full text, facets, order, cursor pages, fields, relations both ways.

Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from goldenpath.catalog.service import CatalogService
from goldenpath.catalog.store import pages
from goldenpath.errors import InvalidInput, NotFound
from goldenpath.store.engine import make_engine

CATALOG = {
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
    "apis.yaml": """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata: {name: orders-api, tags: [rest]}
        spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
    """,
}


def _component(i: int) -> str:
    owner = "team-a" if i % 3 else "team-b"
    kind_type = "service" if i % 2 else "website"
    return f"""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: comp-{i:02d}
          title: Component {i:02d}
          description: {"Handles payments" if i == 7 else "Generic thing"}
          tags: [{"python" if i % 4 else "java"}]
        spec:
          type: {kind_type}
          lifecycle: {"Production" if i % 5 else "experimental"}
          owner: {owner}
          providesApis: {"[orders-api]" if i == 1 else "[]"}
    """


@pytest.fixture
def filled(catalog: CatalogService, tmp_path: Path, file_tree: Any) -> CatalogService:
    files = dict(CATALOG)
    files.update({f"components/c{i:02d}.yaml": _component(i) for i in range(30)})
    file_tree(tmp_path / "cat", files)
    result = catalog.register_location(type="file", target=str(tmp_path / "cat"))
    assert result.report is not None and not result.report.errors, result.report.errors
    return catalog


def _names(page: Any) -> list[str]:
    return [e["metadata"]["name"] for e in page.items]


def test_filter_and_or_exists_and_case_insensitivity(filled: CatalogService) -> None:
    services = filled.query_entities(filters=["KIND=Component,spec.type=SERVICE"], limit=100)
    assert services.total_items == 15
    assert all(e["spec"]["type"] == "service" for e in services.items)
    either = filled.query_entities(filters=["kind=api", "kind=group"], limit=100)
    assert sorted(_names(either)) == ["orders-api", "team-a", "team-b"]
    any_of = filled.query_entities(filters=["kind=api,kind=group"], limit=100)
    assert any_of.total_items == 3
    with_definition = filled.query_entities(filters=["spec.definition"])
    assert _names(with_definition) == ["orders-api"]
    tagged = filled.query_entities(filters=[{"metadata.tags": "java"}], limit=100)
    assert tagged.total_items == 8


def test_relation_filters_in_both_directions(filled: CatalogService) -> None:
    owned = filled.query_entities(filters=["relations.ownedBy=group:default/team-b"], limit=100)
    assert sorted(_names(owned)) == [f"comp-{i:02d}" for i in range(0, 30, 3)]
    group = filled.get_entity_by_ref("group:default/team-b")
    owner_of = {r["targetRef"] for r in group["relations"] if r["type"] == "ownerOf"}
    assert owner_of == {f"component:default/comp-{i:02d}" for i in range(0, 30, 3)}
    api = filled.get_entity_by_ref("api:orders-api")
    assert {
        "type": "apiProvidedBy",
        "targetRef": "component:default/comp-01",
        "target": {"kind": "component", "namespace": "default", "name": "comp-01"},
    } in api["relations"]


def test_full_text_over_name_title_description_tags_owner(filled: CatalogService) -> None:
    assert _names(filled.query_entities(full_text="payments")) == ["comp-07"]
    assert _names(filled.query_entities(full_text="COMP-07")) == ["comp-07"]
    assert filled.query_entities(full_text="java", filters=["kind=component"]).total_items == 8
    assert filled.query_entities(full_text="team-b", filters=["kind=component"]).total_items == 10
    assert filled.query_entities(full_text="nothing-matches-this").total_items == 0


def test_cursor_pages_cover_everything_once_in_order(filled: CatalogService) -> None:
    seen: list[str] = []
    page = filled.query_entities(filters=["kind=component"], limit=7)
    assert page.total_items == 30
    while True:
        seen.extend(_names(page))
        if not page.next_cursor:
            break
        assert page.page_info == {"nextCursor": page.next_cursor}
        page = filled.query_entities(cursor=page.next_cursor, limit=7)
    assert seen == [f"comp-{i:02d}" for i in range(30)]


@pytest.mark.parametrize("descending", [False, True])
def test_order_by_any_field_with_cursor(filled: CatalogService, descending: bool) -> None:
    order = "spec.lifecycle,desc" if descending else "spec.lifecycle"
    rows: list[tuple[str, str]] = []
    page = filled.query_entities(
        filters=["kind=component"], order=order, limit=4, fields="metadata.name,spec.lifecycle"
    )
    while True:
        rows.extend((e["spec"]["lifecycle"].lower(), e["metadata"]["name"]) for e in page.items)
        if not page.next_cursor:
            break
        page = filled.query_entities(cursor=page.next_cursor, limit=4)
    assert len(rows) == 30 and len(set(rows)) == 30
    expected = sorted(rows, key=lambda r: r[1])
    expected.sort(key=lambda r: r[0], reverse=descending)
    assert rows == expected


def test_fields_projection(filled: CatalogService) -> None:
    page = filled.query_entities(filters=["kind=api"], fields=["kind", "metadata.name"])
    assert page.items == [{"kind": "API", "metadata": {"name": "orders-api"}}]


def test_facets_keep_original_case_and_respect_filters(filled: CatalogService) -> None:
    facets = filled.facets(
        facets=["kind", "spec.lifecycle", "relations.ownedBy"], filters=["kind=component"]
    )
    assert facets["kind"] == [{"value": "Component", "count": 30}]
    assert {"value": "Production", "count": 24} in facets["spec.lifecycle"]
    assert {"value": "experimental", "count": 6} in facets["spec.lifecycle"]
    assert facets["relations.ownedBy"] == [
        {"value": "group:default/team-a", "count": 20},
        {"value": "group:default/team-b", "count": 10},
    ]
    everything = filled.facets(facets=["kind"])
    assert {"value": "Group", "count": 2} in everything["kind"]


def test_get_by_refs_keeps_order_and_marks_missing(filled: CatalogService) -> None:
    got = filled.get_entities_by_refs(
        ["component:default/comp-03", "component:default/missing", "Group:team-a"],
        fields=["metadata.name"],
    )
    assert got == [{"metadata": {"name": "comp-03"}}, None, {"metadata": {"name": "team-a"}}]


def test_errors_for_bad_queries(filled: CatalogService) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        filled.query_entities(cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="asc or desc"):
        filled.query_entities(order="metadata.name,sideways")
    with pytest.raises(InvalidInput, match="form"):
        filled.get_entity_by_ref("component:")
    with pytest.raises(NotFound):
        filled.get_entity_by_ref("component:default/nope")
    with pytest.raises(NotFound):
        filled.get_entity_by_uid("00000000-0000-0000-0000-000000000000")


def test_page_size_is_bounded(filled: CatalogService) -> None:
    page = filled.query_entities(limit=10_000)
    assert len(page.items) == page.total_items == 33 + 1  # + the generated Location
    assert len(filled.query_entities(limit=0).items) == 1


def test_delete_entity_by_uid_removes_it_and_its_relations(filled: CatalogService) -> None:
    uid = filled.get_entity_by_ref("component:comp-00")["metadata"]["uid"]
    filled.delete_entity_by_uid(uid)
    with pytest.raises(NotFound):
        filled.get_entity_by_ref("component:comp-00")
    group = filled.get_entity_by_ref("group:team-b")
    assert "component:default/comp-00" not in {r["targetRef"] for r in group["relations"]}
    with pytest.raises(NotFound):
        filled.delete_entity_by_uid(uid)
    assert filled.refresh().added == ["component:default/comp-00"]


# -- fast reads: the try_* variants an API may answer on its event loop -----------------------


def _same_page(fast: Any, plain: Any) -> None:
    assert fast is not None
    assert (fast.items, fast.total_items, fast.next_cursor) == (
        plain.items,
        plain.total_items,
        plain.next_cursor,
    )


@pytest.mark.parametrize(
    "flt",
    [
        ["kind=component,spec.owner=team-b"],
        ["kind=component,spec.owner=team-a"],  # same shape, other value: other answer
        ["relations.ownedBy=group:default/team-a"],
        ["kind=component,spec.type=website,spec.type=service"],
        ["kind=api", "metadata.tags=java"],
        [],
    ],
)
def test_fast_pages_are_the_plain_pages(filled: CatalogService, flt: list[str]) -> None:
    plain = filled.query_entities_json(filters=flt, limit=4)
    fast = filled.try_query_entities_json(filters=flt, limit=4)
    _same_page(fast, plain)
    assert fast is not None and fast.next_cursor
    _same_page(
        filled.try_query_entities_json(cursor=fast.next_cursor, limit=4),
        filled.query_entities_json(cursor=plain.next_cursor, limit=4),
    )


def test_fast_gets_are_the_plain_gets(filled: CatalogService) -> None:
    doc = filled.get_entity_json_by_ref("component:default/comp-03")
    assert filled.try_get_entity_json_by_ref("Component:COMP-03") == doc
    uid = filled.get_entity_by_ref("component:comp-03")["metadata"]["uid"]
    assert filled.try_get_entity_json_by_uid(uid) == doc
    with pytest.raises(NotFound):
        filled.try_get_entity_json_by_ref("component:default/nope")
    with pytest.raises(NotFound):
        filled.try_get_entity_json_by_uid("00000000-0000-0000-0000-000000000000")
    with pytest.raises(InvalidInput, match="cursor"):
        filled.try_query_entities_json(cursor="not-a-cursor")


def test_fast_reads_decline_what_may_be_slow(
    filled: CatalogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert filled.try_query_entities_json(full_text="payments") is None
    assert filled.try_query_entities_json(order="metadata.name") is None
    assert filled.try_query_entities_json(filters=["kind=component"], limit=101) is None
    assert filled.try_facets(facets=["spec.type"], filters=["kind=component"]) is None
    facets = filled.facets(facets=["spec.type"], filters=["kind=component"])
    assert filled.try_facets(facets=["spec.type"], filters=["kind=component"]) == facets
    # more matches than a small set and no cached count: counting is left to a worker thread
    monkeypatch.setattr(pages, "SMALL_SET_MAX", 5)
    assert filled.try_query_entities_json(filters=["kind=component,spec.type=service"]) is None
    plain = filled.query_entities_json(filters=["kind=component,spec.type=service"], limit=1)
    fast = filled.try_query_entities_json(filters=["kind=component,spec.type=service"], limit=1)
    _same_page(fast, plain)  # counts cached now, and a page of 1 is a short walk
    # an entity (or page) with more relation rows than the budget
    filled.fast_relations = 5
    assert filled.try_get_entity_json_by_ref("group:default/team-a") is None  # owns 20
    assert filled.try_query_entities_json(filters=["kind=group"]) is None
    assert filled.try_get_entity_json_by_ref("component:default/comp-05") is not None


def test_fast_pages_choose_their_plan_knowing_the_kinds_size(
    filled: CatalogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter whose conditions each match many entities is walked in ref order, not
    intersected as sets (~1 ms against ~6 ms at 10k); the walk needs the kind's size, so a
    fast read without it declines once and the plain read counts it."""
    flt = ["kind=component,spec.type=service"]
    first = filled.try_query_entities_json(filters=flt, limit=2)  # a small set: counted
    assert first is not None and first.total_items > 3
    assert filled.try_query_entities_json(filters=flt, limit=2) is None  # kind's size unknown
    plain = filled.query_entities_json(filters=flt, limit=2)

    def no_set_plan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the set plan was used where the walk reads fewer rows")

    monkeypatch.setattr(pages, "first_page_of_small_set", no_set_plan)
    monkeypatch.setattr(pages, "_set_rows", no_set_plan)
    _same_page(filled.try_query_entities_json(filters=flt, limit=2), plain)
    _same_page(first, plain)


def test_fast_pages_see_writes_at_once(filled: CatalogService) -> None:
    flt = ["kind=component,spec.owner=team-b"]
    before = filled.try_query_entities_json(filters=flt, limit=50)
    assert before is not None and before.total_items == 10
    filled.delete_entity_by_uid(filled.get_entity_by_ref("component:comp-00")["metadata"]["uid"])
    after = filled.try_query_entities_json(filters=flt, limit=50)
    assert after is not None and after.total_items == 9 == len(after.items)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_fast_read_does_not_wait_for_a_locked_table(filled: CatalogService) -> None:
    """A bulk load holds exclusive locks on PostgreSQL: a fast read gives up after 100 ms
    (the API then waits in a worker thread, never on its event loop)."""
    ref = "component:default/comp-03"
    with filled.engine.connect() as locker:
        locker.exec_driver_sql("LOCK TABLE catalog_entities IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        assert filled.try_get_entity_json_by_ref(ref) is None
        assert filled.try_query_entities_json(filters=["kind=component"]) is None
        assert time.monotonic() - started < 2.0
    assert filled.try_get_entity_json_by_ref(ref) == filled.get_entity_json_by_ref(ref)


def test_a_fast_read_never_waits_for_a_database_connection(
    filled: CatalogService, settings: Any
) -> None:
    engine = make_engine(filled.engine.url.render_as_string(hide_password=False))
    try:
        fresh = CatalogService(engine=engine, settings=settings)
        ref = "component:default/comp-03"
        assert fresh.try_get_entity_json_by_ref(ref) is None  # the pool has no idle connection
        doc = fresh.get_entity_json_by_ref(ref)  # (a worker thread would) open one
        assert fresh.try_get_entity_json_by_ref(ref) == doc
    finally:
        engine.dispose()
