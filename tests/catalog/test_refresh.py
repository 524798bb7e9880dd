"""Refresh: edits picked up by hash, orphans marked then deleted, conflicts, errors, leases, loop.

Every test that takes ``catalog`` or ``engine`` runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from goldenpath.catalog.refresher import Refresher
from goldenpath.catalog.service import REFRESH_LEASE, CatalogService
from goldenpath.errors import Conflict
from goldenpath.settings import Settings
from goldenpath.store import leases

COMPONENT = """
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  description: {desc}
spec:
  type: service
  lifecycle: production
  owner: {owner}
"""


def _component(name: str, desc: str = "first", owner: str = "team-a") -> str:
    return COMPONENT.format(name=name, desc=desc, owner=owner)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_refresh_detects_added_updated_unchanged_and_keeps_uid(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path / "c", {"a.yaml": _component("a"), "b.yaml": _component("b")})
    catalog.register_location(type="file", target=str(tmp_path / "c"))
    before = catalog.get_entity_by_ref("component:a")

    file_tree(
        tmp_path / "c", {"a.yaml": _component("a", desc="second"), "new.yaml": _component("n")}
    )
    report = catalog.refresh()

    assert report.updated == ["component:default/a"]
    assert report.added == ["component:default/n"]
    assert "component:default/b" in report.unchanged
    after = catalog.get_entity_by_ref("component:a")
    assert after["metadata"]["description"] == "second"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["etag"] != before["metadata"]["etag"]
    assert catalog.query_entities(full_text="second").total_items == 1


def test_orphans_are_marked_at_once_and_deleted_after_the_grace_period(
    engine: Engine, tmp_path: Path, file_tree: Any
) -> None:
    clock = _Clock()
    settings = Settings(home=tmp_path / "home", catalog={"orphan_grace": 60})
    svc = CatalogService(engine=engine, settings=settings, clock=clock)
    file_tree(tmp_path / "c", {"a.yaml": _component("a"), "gone.yaml": _component("gone")})
    svc.register_location(type="file", target=str(tmp_path / "c"))

    (tmp_path / "c" / "gone.yaml").unlink()
    report = svc.refresh()
    assert report.orphaned == ["component:default/gone"]
    orphan = svc.get_entity_by_ref("component:gone")
    assert orphan["metadata"]["annotations"]["backstage.io/orphan"] == "true"
    flt = ["metadata.annotations.backstage.io/orphan=true"]
    assert svc.query_entities(filters=flt).total_items == 1

    clock.now += timedelta(seconds=30)
    assert svc.refresh().deleted == []
    clock.now += timedelta(seconds=31)
    assert svc.refresh().deleted == ["component:default/gone"]
    assert {
        e["metadata"]["name"] for e in svc.query_entities(filters=["kind=component"]).items
    } == {"a"}


def test_an_orphan_that_comes_back_loses_its_mark(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path / "c", {"a.yaml": _component("a"), "b.yaml": _component("b")})
    catalog.register_location(type="file", target=str(tmp_path / "c"))
    body = (tmp_path / "c" / "b.yaml").read_text()
    (tmp_path / "c" / "b.yaml").unlink()
    catalog.refresh()
    (tmp_path / "c" / "b.yaml").write_text(body)
    report = catalog.refresh()
    assert report.updated == ["component:default/b"]
    annotations = catalog.get_entity_by_ref("component:b")["metadata"]["annotations"]
    assert "backstage.io/orphan" not in annotations


def test_entity_that_turns_invalid_keeps_last_valid_version_with_status(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path / "c", {"a.yaml": _component("a"), "b.yaml": _component("b")})
    catalog.register_location(type="file", target=str(tmp_path / "c"))
    (tmp_path / "c" / "a.yaml").write_text(
        _component("a").replace("lifecycle: production", "lifecycle: 42")
    )
    report = catalog.refresh()

    assert "component:default/a" in report.invalid and report.orphaned == []
    entity = catalog.get_entity_by_ref("component:a")
    assert entity["spec"]["lifecycle"] == "production"
    item = entity["status"]["items"][0]
    assert item["type"] == "backstage.io/catalog-processing" and item["level"] == "error"
    assert "lifecycle" in item["message"] and item["error"]["message"]
    errors = catalog.list_errors()
    assert [e["entityRef"] for e in errors] == ["component:default/a"]
    assert errors[0]["source"].endswith("a.yaml") and errors[0]["index"] == 0

    (tmp_path / "c" / "a.yaml").write_text(_component("a"))
    catalog.refresh()
    assert "status" not in catalog.get_entity_by_ref("component:a")
    assert catalog.list_errors() == []


def test_bad_documents_do_not_abort_the_batch(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path / "c",
        {
            "good.yaml": _component("good"),
            "broken.yaml": "kind: [unclosed\n",
            "mixed.yaml": "- a list\n---\n" + _component("also-good"),
            "unknown.yaml": "apiVersion: x/v1\nkind: Spaceship\nmetadata: {name: s}\nspec: {}\n",
        },
    )
    result = catalog.register_location(type="file", target=str(tmp_path / "c"))
    assert result.report is not None
    assert set(result.report.added) >= {"component:default/good", "component:default/also-good"}
    sources = {Path(e["source"]).name for e in catalog.list_errors()}
    assert sources == {"broken.yaml", "mixed.yaml", "unknown.yaml"}


def test_same_ref_from_two_locations_first_owner_wins(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(
        tmp_path,
        {
            "one/a.yaml": _component("a", desc="from one"),
            "two/a.yaml": _component("a", desc="from two"),
        },
    )
    catalog.register_location(type="file", target=str(tmp_path / "one"))
    second = catalog.register_location(type="file", target=str(tmp_path / "two"))

    assert second.report is not None and "component:default/a" in second.report.invalid
    assert catalog.get_entity_by_ref("component:a")["metadata"]["description"] == "from one"
    conflicts = [
        e
        for e in catalog.list_errors(location_id=second.location["id"])
        if e["stage"] == "conflict"
    ]
    assert conflicts and "already provided by location" in conflicts[0]["message"]
    catalog.refresh()  # still the first owner after a full refresh
    assert catalog.get_entity_by_ref("component:a")["metadata"]["description"] == "from one"


def test_dangling_relations_are_kept_and_reported(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"a.yaml": _component("a", owner="no-such-team")})
    result = catalog.register_location(type="file", target=str(tmp_path / "a.yaml"))
    expected = {
        "source": "component:default/a",
        "type": "ownedBy",
        "target": "group:default/no-such-team",
    }
    assert result.report is not None and expected in result.report.dangling
    assert expected in catalog.list_dangling_relations()
    rels = catalog.get_entity_by_ref("component:a")["relations"]
    assert {
        "type": "ownedBy",
        "targetRef": "group:default/no-such-team",
        "target": {"kind": "group", "namespace": "default", "name": "no-such-team"},
    } in rels


def test_refresh_while_another_refresh_runs_is_a_conflict(
    catalog: CatalogService, engine: Engine, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"a.yaml": _component("a")})
    catalog.register_location(type="file", target=str(tmp_path / "a.yaml"))
    assert leases.acquire(engine, REFRESH_LEASE, "someone-else", ttl=60)
    with pytest.raises(Conflict, match="already running"):
        catalog.refresh()
    leases.release(engine, REFRESH_LEASE, "someone-else")
    assert catalog.refresh().unchanged


def test_expired_lease_does_not_block_forever(engine: Engine) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    assert leases.acquire(engine, "x", "crashed", ttl=60, now=past)
    assert leases.holder_of(engine, "x") is None
    assert leases.acquire(engine, "x", "me", ttl=60)
    assert not leases.acquire(engine, "x", "other", ttl=60)
    assert leases.holder_of(engine, "x") == "me"
    assert leases.renew(engine, "x", "me", ttl=60)
    assert not leases.renew(engine, "x", "other", ttl=60)


def test_refresher_loop_picks_up_changes_and_stops_promptly(
    catalog: CatalogService, tmp_path: Path, file_tree: Any
) -> None:
    file_tree(tmp_path, {"a.yaml": _component("a")})
    catalog.register_location(type="file", target=str(tmp_path / "a.yaml"))
    loop = Refresher(catalog, interval=0.05)
    loop.start()
    try:
        (tmp_path / "a.yaml").write_text(_component("a", desc="edited"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if catalog.get_entity_by_ref("component:a")["metadata"]["description"] == "edited":
                break
            time.sleep(0.05)
        assert catalog.get_entity_by_ref("component:a")["metadata"]["description"] == "edited"
    finally:
        started = time.monotonic()
        loop.stop()
        assert time.monotonic() - started < 5
    assert not loop.running and loop.passes >= 1 and loop.last_error is None


def test_refresher_skips_a_pass_when_the_lease_is_held() -> None:
    class Busy:
        calls = 0

        def refresh(self) -> None:
            Busy.calls += 1
            raise Conflict("busy")

    loop = Refresher(Busy(), interval=3600)
    assert loop.run_once() is False and loop.skipped == 1 and loop.last_error is None
    loop.start()
    deadline = time.monotonic() + 10
    while Busy.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    loop.stop(timeout=5)
    assert Busy.calls == 2 and loop.skipped == 2
    assert not loop.running and time.monotonic() - started < 5


@pytest.fixture()
def read_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """File names processing parsed (in-process: the pool threshold is not reached here);
    files count as settled at once, so a memo is kept right after a file is written."""
    from goldenpath.catalog import filememo, processing

    monkeypatch.setattr(filememo, "SETTLE_NS", 0)
    seen: list[str] = []
    real = processing.process_text

    def counting(data: Any, *, source: str, **kw: Any) -> Any:
        seen.append(Path(source).name)
        return real(data, source=source, **kw)

    monkeypatch.setattr(processing, "process_text", counting)
    return seen


def test_unchanged_files_are_skipped_and_every_kind_of_change_is_still_seen(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, read_counter: list[str]
) -> None:
    with_text = _component("c", desc="{$text: ./desc.txt}")
    root = file_tree(
        tmp_path / "c",
        {
            "a.yaml": _component("a"),
            "b.yaml": _component("b"),
            "c.yaml": with_text,
            "desc.txt": "from a file",
        },
    )
    catalog.register_location(type="file", target=str(root))
    read_counter.clear()

    report = catalog.refresh()
    assert read_counter == ["c.yaml"]  # a placeholder's target may change: always re-read
    assert {"component:default/a", "component:default/b", "component:default/c"} < set(
        report.unchanged
    )
    assert not report.updated and not report.added

    file_tree(root, {"a.yaml": _component("a", desc="second"), "desc.txt": "changed text"})
    read_counter.clear()
    report = catalog.refresh()
    assert sorted(read_counter) == ["a.yaml", "c.yaml"]
    assert sorted(report.updated) == ["component:default/a", "component:default/c"]
    assert catalog.get_entity_by_ref("component:a")["metadata"]["description"] == "second"
    assert catalog.get_entity_by_ref("component:c")["metadata"]["description"] == "changed text"

    # an entity deleted through the API comes back from its unchanged file
    catalog.delete_entity_by_uid(catalog.get_entity_by_ref("component:b")["metadata"]["uid"])
    read_counter.clear()
    report = catalog.refresh()
    assert report.added == ["component:default/b"]
    assert "b.yaml" in read_counter and "a.yaml" not in read_counter

    (root / "b.yaml").unlink()
    assert catalog.refresh().orphaned == ["component:default/b"]


def test_a_file_changed_just_before_it_was_read_is_read_again(
    catalog: CatalogService, tmp_path: Path, file_tree: Any, read_counter: list[str]
) -> None:
    from goldenpath.catalog import filememo

    filememo.SETTLE_NS = 60 * 10**9  # (restored by monkeypatch) everything here is "too fresh"
    root = file_tree(tmp_path / "c", {"a.yaml": _component("a")})
    catalog.register_location(type="file", target=str(root))
    read_counter.clear()
    catalog.refresh()
    assert read_counter == ["a.yaml"]
