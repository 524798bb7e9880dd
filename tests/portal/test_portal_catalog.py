"""The portal's /catalog page: kind tabs, facets, full text, sorting, cursor pages; /search.

Runs the real app (portalhelpers) on the sample catalog (tests/api/data/catalog: five
components of team-a, an API, a resource, a system) plus people.yaml.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portalhelpers import Portal, login

from goldenpath.portal.routes import catalog as catalog_routes

ROW_LINK = re.compile(r'<td class="entity-name"><a href="/catalog/default/(\w+)/([\w-]+)">')
PAGER = re.compile(r'<a href="([^"]+)" rel="(prev|next)">')


@pytest.fixture(scope="module")
def client(portal: Portal) -> Iterator[TestClient]:
    c = portal.new_client()
    login(c, "vic")  # a viewer reads everything
    yield c


def names(page: str) -> list[str]:
    return [name for _kind, name in ROW_LINK.findall(page)]


def links(page: str) -> dict[str, str]:
    return {rel: html.unescape(url) for url, rel in PAGER.findall(page)}


def test_catalog_requires_sign_in(portal: Portal) -> None:
    anonymous = portal.new_client()
    answer = anonymous.get("/catalog?kind=api", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/catalog")


def test_default_tab_lists_components_with_kind_tabs_and_facets(client: TestClient) -> None:
    page = client.get("/catalog")
    assert page.status_code == 200
    assert sorted(names(page.text)) == [
        "audit-trail",
        "checkout",
        "ledger",
        "payments",
        "storefront",
    ]
    assert "5 entities" in page.text
    # kind tabs with counts, the current one marked
    assert re.search(r'aria-current="page">Component <small>\(5\)</small>', page.text)
    assert re.search(r">API <small>\(1\)</small>", page.text)
    # facets of the component tab, with counts
    assert re.search(
        r'name="lifecycle" value="production"[^>]*> production <small>\(3\)', page.text
    )
    assert re.search(r'name="type" value="service"[^>]*> service <small>\(3\)', page.text)
    assert 'name="tags" value="payments"' in page.text
    # the columns shown come from the projected fields
    assert "Takes the money and hands it to payments." in page.text
    assert 'href="/catalog/default/group/team-a"' in page.text


def test_kind_tab_and_all(client: TestClient) -> None:
    api = client.get("/catalog", params={"kind": "api"})
    assert names(api.text) == ["checkout-api"]
    everything = client.get("/catalog", params={"kind": "all"})
    assert {"checkout", "checkout-api", "orders-db", "shop", "team-a", "jane"} <= set(
        names(everything.text)
    )
    assert '<th scope="col">Kind</th>' in everything.text


def test_facets_filter_and_combine(client: TestClient) -> None:
    one = client.get("/catalog", params={"lifecycle": "production", "type": "service"})
    assert sorted(names(one.text)) == ["checkout", "payments"]
    either = client.get("/catalog", params=[("type", "website"), ("type", "library")])
    assert sorted(names(either.text)) == ["ledger", "storefront"]
    # the selected values stay checked, and a way back is offered
    assert re.search(r'name="type" value="website" checked', either.text)
    assert "Clear filters" in either.text


def test_full_text_search_box(client: TestClient) -> None:
    page = client.get("/catalog", params={"q": "card networks"})
    assert names(page.text) == ["payments"]
    assert "matching “card networks”" in page.text
    none = client.get("/catalog", params={"q": "zzzz-nothing"})
    assert names(none.text) == [] and "No entities match" in none.text


def test_sort_by_name_both_ways(client: TestClient) -> None:
    up = names(client.get("/catalog", params={"sort": "name"}).text)
    down = names(client.get("/catalog", params={"sort": "-name"}).text)
    assert up == sorted(up) and down == list(reversed(up))


@pytest.mark.parametrize("sort", ["", "-name"])
def test_cursor_pages_forward_and_back(client: TestClient, sort: str) -> None:
    first = client.get("/catalog", params={"limit": 2, "sort": sort})
    pages = [names(first.text)]
    current = first.text
    urls = []
    while "next" in links(current):
        urls.append(links(current)["next"])
        current = client.get(urls[-1]).text
        pages.append(names(current))
    assert [len(p) for p in pages] == [2, 2, 1]
    everything = [n for p in pages for n in p]
    assert len(set(everything)) == 5
    if sort:
        assert everything == sorted(everything, reverse=True)
    # Previous walks back through the same pages, to the first
    for expected in reversed(pages[:-1]):
        current = client.get(links(current)["prev"]).text
        assert names(current) == expected
    assert "prev" not in links(current)


def test_filters_survive_paging(client: TestClient) -> None:
    first = client.get("/catalog", params={"limit": 1, "lifecycle": "production"})
    second = client.get(links(first.text)["next"])
    third = client.get(links(second.text)["next"])
    seen = names(first.text) + names(second.text) + names(third.text)
    assert sorted(seen) == ["checkout", "ledger", "payments"]
    assert "next" not in links(third.text)


def test_malformed_page_position_is_a_400_page(client: TestClient) -> None:
    answer = client.get("/catalog", params={"after": "not-a-position!"})
    assert answer.status_code == 400
    assert "Next/Previous" in answer.text


def test_search_groups_entities_by_kind(client: TestClient) -> None:
    page = client.get("/search", params={"q": "checkout"})
    assert page.status_code == 200
    text = page.text
    assert "<h3>API <small>(1)</small></h3>" in text
    assert "<h3>Component <small>(1)</small></h3>" in text
    assert 'href="/catalog/default/API/checkout-api"' in text
    assert "No docs page matches" in text
    empty = client.get("/search")
    assert empty.status_code == 200 and "match" not in empty.text.split("<main", 1)[1]


def test_large_catalog_serves_the_page_while_facets_are_counted(
    portal: Portal, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_routes, "SYNC_FACETS_MAX", 0)  # treat this catalog as large
    extra = tmp_path / "cache.yaml"
    extra.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: cache\n"
        "spec:\n  type: redis\n  owner: team-a\n",
        encoding="utf-8",
    )
    portal.register(extra)  # a write: every cached count is stale now
    first = client.get("/catalog", params={"kind": "resource", "type": "redis"})
    assert first.status_code == 200
    assert names(first.text) == ["cache"]
    assert "Counting the filter values" in first.text
    assert re.search(r'name="type" value="redis" checked', first.text)  # selection kept
    deadline = time.monotonic() + 30
    page = first.text
    while "Counting the filter values" in page and time.monotonic() < deadline:
        time.sleep(0.2)
        page = client.get("/catalog", params={"kind": "resource"}).text
    assert re.search(r'name="type" value="redis"[^>]*> redis <small>\(1\)', page)


BUCKETS = """\
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: bucket-a}
spec: {type: bucket, owner: team-a, system: shop}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: bucket-b}
spec: {type: bucket, owner: "group:default/team-a", system: "system:default/shop"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: bucket-c}
spec: {type: bucket, owner: "Group:Team-A"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: bucket-d}
spec: {type: bucket, owner: "user:jane"}
"""
FACET_OPTION = re.compile(
    r'<label class="facet-option"><input type="checkbox" name="(owner|system)" '
    r'value="([^"]+)"( checked)?> ([^<]+) <small>\((\d+)\)</small></label>'
)


def ref_options(page: str, param: str) -> dict[str, tuple[str, int, bool]]:
    """``{value: (label, count, checked)}`` of one ref facet."""
    return {
        value: (label, int(count), bool(checked))
        for p, value, checked, label, count in FACET_OPTION.findall(page)
        if p == param
    }


def test_owner_and_system_spellings_are_one_facet_entry(
    portal: Portal, client: TestClient, tmp_path: Path
) -> None:
    extra = tmp_path / "buckets.yaml"
    extra.write_text(BUCKETS, encoding="utf-8")
    portal.register(extra)
    page = client.get("/catalog", params={"kind": "resource"}).text
    owners = ref_options(page, "owner")
    # team-a, group:default/team-a and Group:Team-A are one group: one entry, full ref value
    assert [v for v in owners if "team-a" in v] == ["group:default/team-a"]
    assert "user:default/jane" in owners and owners["user:default/jane"][:2] == ("user:jane", 1)
    label, team_count, checked = owners["group:default/team-a"]
    assert label == "team-a" and not checked
    systems = ref_options(page, "system")
    assert list(systems) == ["system:default/shop"]
    assert systems["system:default/shop"][0] == "shop"
    # the merged entry filters by every spelling; its count is what the filter finds
    mine = client.get("/catalog", params={"kind": "resource", "owner": "group:default/team-a"})
    found = names(mine.text)
    assert {"bucket-a", "bucket-b", "bucket-c"} <= set(found) and "bucket-d" not in found
    assert len(found) == team_count
    assert ref_options(mine.text, "owner")["group:default/team-a"][2]  # checked
    shop = client.get("/catalog", params={"kind": "resource", "system": "shop"})
    in_shop = names(shop.text)
    assert {"bucket-a", "bucket-b"} <= set(in_shop) and not {"bucket-c", "bucket-d"} & set(in_shop)
    assert len(in_shop) == systems["system:default/shop"][1]
    # a link with the short spelling selects the same entry
    assert ref_options(shop.text, "system")["system:default/shop"][2]
    jane = client.get("/catalog", params={"kind": "resource", "owner": "user:jane"})
    assert names(jane.text) == ["bucket-d"]


def test_facet_values_are_whole_label_rows_and_the_table_scrolls(client: TestClient) -> None:
    """Checkbox, text and count are one <label> (the row is the click target; keyboard: the
    checkbox), and the table sits in a focusable sideways-scrolling region."""
    page = client.get("/catalog").text
    rows = re.findall(r'<label class="facet-option">(.*?)</label>', page, re.S)
    assert rows and all(r.startswith('<input type="checkbox"') for r in rows)
    assert re.search(r'name="owner" value="group:default/team-a"[^>]*> team-a <small>\(5\)', page)
    region = re.search(r'<div class="table-scroll"([^>]*)>\s*<table class="catalog-table">', page)
    assert region and 'tabindex="0"' in region.group(1) and 'role="region"' in region.group(1)
    css = client.get("/static/portal.css").text
    assert re.search(r"\.catalog-layout \.table-scroll \{[^}]*overflow-x: auto", css)
    assert re.search(r"\.catalog-layout > \* \{ min-width: 0; \}", css)
