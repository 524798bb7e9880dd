"""The Backstage catalog REST surface: paths, shapes and errors as Backstage serves them.

https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

from typing import Any

from apihelpers import BROKEN_CATALOG, SAMPLE_CATALOG, Api

PROBLEM = "application/problem+json"
COMPONENTS = ["audit-trail", "checkout", "ledger", "payments", "storefront"]


def _names(items: list[dict[str, Any] | None]) -> list[str | None]:
    return [i["metadata"]["name"] if i else None for i in items]


def test_register_location_returns_backstage_shape(api: Api) -> None:
    body = api.register(SAMPLE_CATALOG)
    assert "component:default/checkout" in body["report"]["added"]
    assert "exists" not in body
    assert body["location"]["type"] == "file"
    assert body["location"]["target"] == str(SAMPLE_CATALOG)
    assert isinstance(body["location"]["id"], str)
    # as Backstage: entities only in a dry run; what was stored is in goldenpath's report
    assert body["entities"] == []
    assert {"group:default/team-a", "resource:default/orders-db"} <= set(body["report"]["added"])
    location_id = body["location"]["id"]
    got = api.get(f"/api/catalog/locations/{location_id}").json()
    assert got == body["location"]
    listed = api.get("/api/catalog/locations").json()
    assert {"data": body["location"]} in listed


def test_register_twice_conflicts_but_dry_run_says_exists(catalog_api: Api) -> None:
    again = catalog_api.post(
        "/api/catalog/locations", json={"type": "file", "target": str(SAMPLE_CATALOG)}
    )
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    dry = catalog_api.post(
        "/api/catalog/locations",
        params={"dryRun": "true"},
        json={"type": "file", "target": str(SAMPLE_CATALOG)},
    )
    assert dry.status_code == 201 and dry.json()["exists"] is True
    assert "checkout" in {e["metadata"]["name"] for e in dry.json()["entities"]}


def test_bad_location_is_a_400_and_changes_nothing(catalog_api: Api) -> None:
    before = catalog_api.get("/api/catalog/entities").json()
    for kind, target in (
        ("file", "/definitely/not/here"),
        ("ftp", "ftp://example.com/x.yaml"),
        ("url", "/definitely/not/a/repo.git"),
    ):
        response = catalog_api.post("/api/catalog/locations", json={"type": kind, "target": target})
        assert response.status_code in (400, 404), response.text
        assert response.headers["content-type"] == PROBLEM
    assert catalog_api.get("/api/catalog/entities").json() == before


def test_list_entities_filters_fields_and_order(catalog_api: Api) -> None:
    response = catalog_api.get(
        "/api/catalog/entities",
        params={
            "filter": "kind=component",
            "fields": "kind,metadata.name",
            "order": "asc:metadata.name",
        },
    )
    assert response.status_code == 200
    items = response.json()
    assert _names(items) == COMPONENTS
    assert items[0] == {"kind": "Component", "metadata": {"name": "audit-trail"}}
    services = catalog_api.get(
        "/api/catalog/entities",
        params=[("filter", "kind=component,spec.type=service"), ("filter", "kind=group")],
    ).json()
    assert sorted(str(n) for n in _names(services)) == [
        "audit-trail",
        "checkout",
        "payments",
        "platform-admins",
        "team-a",
    ]


def test_list_entities_is_bounded_and_links_the_next_page(catalog_api: Api) -> None:
    first = catalog_api.get(
        "/api/catalog/entities",
        params={"filter": "kind=component", "limit": 2, "order": "asc:metadata.name"},
    )
    assert _names(first.json()) == COMPONENTS[:2]
    link = first.headers["link"]
    assert link.startswith("</api/catalog/entities?") and link.endswith('>; rel="next"')
    seen = _names(first.json())
    while "link" in first.headers:
        url = first.headers["link"][1 : first.headers["link"].index(">")]
        first = catalog_api.get(url)
        seen += _names(first.json())
    assert seen == COMPONENTS
    too_many = catalog_api.get("/api/catalog/entities", params={"limit": 100_000})
    assert too_many.status_code == 400
    params = {"filter": "kind=component", "order": "asc:metadata.name", "limit": 2}
    offset = catalog_api.get("/api/catalog/entities", params={**params, "offset": 2}).json()
    assert _names(offset) == COMPONENTS[2:4]
    assert catalog_api.get("/api/catalog/entities", params={**params, "offset": 9}).json() == []


def test_get_by_name_uid_and_delete(catalog_api: Api) -> None:
    api = catalog_api
    entity = api.get("/api/catalog/entities/by-name/Component/default/CHECKOUT").json()
    assert entity["metadata"]["name"] == "checkout"
    assert entity["metadata"]["namespace"] == "default"
    relations = {(r["type"], r["targetRef"]) for r in entity["relations"]}
    assert ("ownedBy", "group:default/team-a") in relations
    assert ("providesApi", "api:default/checkout-api") in relations
    assert ("dependsOn", "resource:default/orders-db") in relations
    uid = entity["metadata"]["uid"]
    assert api.get(f"/api/catalog/entities/by-uid/{uid}").json()["metadata"]["uid"] == uid
    missing = api.get("/api/catalog/entities/by-name/component/default/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert api.delete(f"/api/catalog/entities/by-uid/{uid}").status_code == 204
    assert api.get(f"/api/catalog/entities/by-uid/{uid}").status_code == 404
    assert api.delete(f"/api/catalog/entities/by-uid/{uid}").status_code == 404


def test_reverse_relations_are_present(catalog_api: Api) -> None:
    group = catalog_api.get("/api/catalog/entities/by-name/group/default/team-a").json()
    relations = {(r["type"], r["targetRef"]) for r in group["relations"]}
    assert ("ownerOf", "component:default/checkout") in relations
    assert ("hasMember", "user:default/jane") in relations


def test_ancestry(catalog_api: Api) -> None:
    body = catalog_api.get(
        "/api/catalog/entities/by-name/component/default/checkout/ancestry"
    ).json()
    assert body["rootEntityRef"] == "component:default/checkout"
    assert body["items"][0]["entity"]["metadata"]["name"] == "checkout"
    assert all("parentEntityRefs" in item for item in body["items"])
    assert len(body["items"]) >= 2  # the file's generated Location entity is its parent


def test_by_refs_keeps_order_and_nulls(catalog_api: Api) -> None:
    body = catalog_api.post(
        "/api/catalog/entities/by-refs",
        json={
            "entityRefs": [
                "component:default/payments",
                "component:default/nope",
                "group:default/team-a",
            ],
            "fields": ["metadata.name"],
        },
    ).json()
    assert body == {
        "items": [{"metadata": {"name": "payments"}}, None, {"metadata": {"name": "team-a"}}]
    }


def test_by_query_pages_with_cursors(catalog_api: Api) -> None:
    api = catalog_api
    params = {
        "filter": "kind=component",
        "limit": 2,
        "orderField": "metadata.name,asc",
        "fields": "metadata.name",
    }
    page = api.get("/api/catalog/entities/by-query", params=params).json()
    assert page["totalItems"] == 5
    assert set(page) == {"items", "totalItems", "pageInfo"}
    names = _names(page["items"])
    assert "prevCursor" not in page["pageInfo"]
    while "nextCursor" in page["pageInfo"]:
        page = api.get(
            "/api/catalog/entities/by-query",
            params={"cursor": page["pageInfo"]["nextCursor"], "limit": 2},
        ).json()
        names += _names(page["items"])
    assert names == COMPONENTS
    desc = api.get(
        "/api/catalog/entities/by-query",
        params={**params, "orderField": "metadata.name,desc", "limit": 1},
    ).json()
    assert _names(desc["items"]) == ["storefront"]


def test_by_query_full_text(catalog_api: Api) -> None:
    page = catalog_api.get(
        "/api/catalog/entities/by-query", params={"fullTextFilterTerm": "money"}
    ).json()
    assert _names(page["items"]) == ["checkout"]
    bad = catalog_api.get("/api/catalog/entities/by-query", params={"cursor": "garbage"})
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    bad = catalog_api.get("/api/catalog/entities/by-query", params={"orderField": "x,sideways"})
    assert bad.status_code == 400 and "orderField" in bad.json()["detail"]


def test_facets(catalog_api: Api) -> None:
    body = catalog_api.get(
        "/api/catalog/entity-facets",
        params=[("facet", "kind"), ("facet", "spec.type"), ("filter", "kind=component")],
    ).json()
    assert set(body) == {"facets"}
    assert body["facets"]["kind"] == [{"value": "Component", "count": 5}]
    types = {f["value"]: f["count"] for f in body["facets"]["spec.type"]}
    assert types == {"service": 3, "website": 1, "library": 1}
    assert catalog_api.get("/api/catalog/entity-facets").status_code == 400


def test_refresh_and_errors(api: Api) -> None:
    api.register(BROKEN_CATALOG)
    report = api.post("/api/catalog/refresh", json={})
    assert report.status_code == 200
    errors = api.get("/api/catalog/errors").json()
    bad = [e for e in errors["items"] if "not a valid name" in str(e)]
    assert bad and bad[0]["source"].endswith("bad.yaml") and bad[0]["path"] == "metadata.name"
    assert api.get("/api/catalog/entities/by-name/component/default/fine-one").status_code == 200
    one = api.post("/api/catalog/refresh", json={"entityRef": "component:default/fine-one"})
    assert one.status_code == 200
    first = api.get("/api/catalog/errors", params={"limit": 1}).json()
    assert len(first["items"]) == 1
    rest = api.get("/api/catalog/errors", params={"cursor": first["pageInfo"]["nextCursor"]})
    assert first["items"][0] not in rest.json()["items"]
    assert len(rest.json()["items"]) == len(errors["items"]) - 1
    assert api.get("/api/catalog/errors", params={"cursor": "junk"}).status_code == 400


def test_errors_cursor_keeps_the_location_filter(api: Api) -> None:
    broken = api.register(BROKEN_CATALOG)["location"]["id"]
    api.register(SAMPLE_CATALOG)
    params = {"locationId": broken, "limit": 1}
    page = api.get("/api/catalog/errors", params=params).json()
    seen = list(page["items"])
    while page["pageInfo"].get("nextCursor"):
        page = api.get(
            "/api/catalog/errors", params={"cursor": page["pageInfo"]["nextCursor"], "limit": 1}
        ).json()
        seen += page["items"]
    assert seen and all(e["location_id"] == broken for e in seen)


def test_delete_location_removes_its_entities(catalog_api: Api) -> None:
    api = catalog_api
    location = next(
        loc["data"]
        for loc in api.get("/api/catalog/locations").json()
        if loc["data"]["target"] == str(SAMPLE_CATALOG)
    )
    assert api.delete(f"/api/catalog/locations/{location['id']}").status_code == 204
    assert api.get("/api/catalog/entities/by-name/component/default/checkout").status_code == 404
    assert api.get(f"/api/catalog/locations/{location['id']}").status_code == 404


def test_validate_entity(api: Api) -> None:
    good = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "ok"},
        "spec": {"type": "service", "lifecycle": "x", "owner": "a"},
    }
    response = api.post(
        "/api/catalog/validate-entity",
        json={"entity": good, "location": "url:https://example.com/c.yaml"},
    )
    assert response.status_code == 200, response.text
    bad = {**good, "metadata": {"name": "no spaces allowed"}}
    response = api.post("/api/catalog/validate-entity", json={"entity": bad, "location": "url:x"})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]
    assert api.get("/api/catalog/entities/by-name/component/default/ok").status_code == 404


def test_refresh_while_another_runs_is_a_409(catalog_api: Api) -> None:
    from goldenpath.catalog.service import REFRESH_LEASE
    from goldenpath.store import leases

    engine = catalog_api.client.app.state.services.engine  # type: ignore[attr-defined]
    assert leases.acquire(engine, REFRESH_LEASE, "someone-else", ttl=60)
    try:
        response = catalog_api.post("/api/catalog/refresh", json={})
        assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
        assert "already running" in response.json()["detail"]
    finally:
        leases.release(engine, REFRESH_LEASE, "someone-else")
    assert catalog_api.post("/api/catalog/refresh", json={}).status_code == 200


def test_validate_entity_never_reads_server_files(api: Api) -> None:
    entity = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "API",
        "metadata": {"name": "x"},
        "spec": {
            "type": "openapi",
            "lifecycle": "production",
            "owner": "a",
            "definition": {"$text": "/etc/passwd"},
        },
    }
    response = api.post("/api/catalog/validate-entity", json={"entity": entity})
    assert response.status_code == 400
    assert "root:" not in response.text
    assert "does not read files" in response.text


def test_locations_are_paged_with_a_link(catalog_api: Api) -> None:
    first = catalog_api.get("/api/catalog/locations", params={"limit": 1})
    assert len(first.json()) == 1
    url = first.headers["link"][1 : first.headers["link"].index(">")]
    second = catalog_api.get(url)
    assert len(second.json()) == 1 and second.json() != first.json()
    assert "link" in second.headers
    assert (
        catalog_api.get(second.headers["link"][1 : second.headers["link"].index(">")]).json() == []
    )
