"""Incidents: the store on SQLite and PostgreSQL (migration 0010, fingerprint dedupe, resolve
as compare-and-set), opening/resolving/listing through the service, the Alertmanager webhook
and the automatic incidents of real production rollbacks and failed canaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from goldenpath.catalog.service import CatalogService
from goldenpath.deploy import store as deploy_store
from goldenpath.deploy.records import DEFAULT_ENVIRONMENTS
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.insights import store
from goldenpath.insights.incidents import parse_alertmanager
from goldenpath.insights.service import InsightsService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine
from goldenpath.store.metadata import metadata

TABLES = {"insights_incidents", "insights_deployments", "insights_survey"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _diffs(engine: Engine) -> list[object]:
    def ours(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or bool(name and name.startswith("insights_"))

    def our_objects(obj: object, name: str | None, type_: str, refl: bool, other: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "").startswith("insights_")

    with engine.connect() as conn:
        opts = {"include_name": ours, "include_object": our_objects}
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def _row(**extra: Any) -> dict[str, Any]:
    return {
        "title": "checkout returns 500",
        "service": "checkout",
        "severity": "sev2",
        "state": "open",
        "source": "deploy",
        "root_cause_deployment": 7,
        "root_cause_sha": SHA,
        "fingerprint": "deploy:7",
        "opened_at": T0,
        "resolved_at": None,
        "opened_by": "platform:deploy",
        "resolved_by": None,
        "labels": {},
        **extra,
    }


def test_migration_0010_and_the_incident_store_on_both_backends(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert _diffs(engine) == []

    first, created = store.insert_incident(engine, _row())
    again, created_again = store.insert_incident(engine, _row(title="a second writer"))
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.title == "checkout returns 500"
    manual_a, _ = store.insert_incident(engine, _row(fingerprint=None, source="manual"))
    manual_b, _ = store.insert_incident(engine, _row(fingerprint=None, source="manual"))
    assert len({first.id, manual_a.id, manual_b.id}) == 3  # many NULL fingerprints allowed

    done = store.resolve_incident(engine, first.id, actor="ada", at=T0 + timedelta(hours=1))
    assert (done.state, done.resolved_by, done.resolved_at) == (
        "resolved",
        "ada",
        T0 + timedelta(hours=1),
    )
    with pytest.raises(Conflict, match="already resolved"):
        store.resolve_incident(engine, first.id, actor="bob", at=T0 + timedelta(hours=2))

    migrate.downgrade(engine, "0009_users")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert _diffs(engine) == []


# --- the service on SQLite ---------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Any:
    eng = make_engine(f"sqlite:///{tmp_path / 'insights.db'}")
    migrate.upgrade(eng)
    deploy_store.ensure_environments(eng, DEFAULT_ENVIRONMENTS, now=T0)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def insights(db: Engine, settings: Settings, clock: Clock) -> InsightsService:
    catalog = CatalogService(engine=db, settings=settings)
    return InsightsService(engine=db, settings=settings, catalog=catalog, clock=clock)


def test_incidents_open_resolve_and_list(insights: InsightsService, clock: Clock) -> None:
    a = insights.open_incident(title=" checkout slow ", service="checkout", actor="user:ada")
    clock.now += timedelta(minutes=5)
    b = insights.open_incident(
        title="search down", service="search", severity="SEV1", root_cause=SHA, actor="user:bob"
    )
    assert a.to_dict() == {
        "id": a.id,
        "title": "checkout slow",
        "service": "checkout",
        "severity": "sev2",
        "state": "open",
        "source": "manual",
        "rootCause": {"deploymentId": None, "sha": None},
        "openedAt": "2026-12-01T09:00:00Z",
        "resolvedAt": None,
        "openedBy": "user:ada",
        "resolvedBy": None,
        "fingerprint": None,
    }
    assert (b.severity, b.root_cause_sha) == ("sev1", SHA)

    clock.now += timedelta(minutes=25)
    done = insights.resolve_incident(a.id, actor="user:ada")
    assert done.to_dict()["resolvedAt"] == "2026-12-01T09:30:00Z"
    assert done.resolved_by == "user:ada"
    with pytest.raises(Conflict, match=f"incident {a.id} is already resolved"):
        insights.resolve_incident(a.id, actor="user:bob")

    assert [i.id for i in insights.list_incidents()] == [b.id, a.id]
    assert [i.id for i in insights.list_incidents(state="open")] == [b.id]
    assert [i.id for i in insights.list_incidents(service="checkout")] == [a.id]
    assert insights.get_incident(b.id).title == "search down"
    with pytest.raises(NotFound, match="incident 999 does not exist"):
        insights.get_incident(999)
    with pytest.raises(InvalidInput, match="severity 'sev9'"):
        insights.open_incident(title="x", severity="sev9", actor="user:ada")
    with pytest.raises(InvalidInput, match="title is empty"):
        insights.open_incident(title="  ", actor="user:ada")
    with pytest.raises(NotFound, match="deployment 42 does not exist"):
        insights.open_incident(title="x", root_cause=42, actor="user:ada")
    with pytest.raises(InvalidInput, match="state 'closed'"):
        insights.list_incidents(state="closed")


def _alert(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "checkout 5xx above 5%"},
        "startsAt": "2026-12-01T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-01T10:45:00Z",
        "fingerprint": "b4f1c2d3e4f5a6b7",
        "generatorURL": "http://prometheus:9090/graph",
        **extra,
    }


def _payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "status": alerts[0]["status"],
        "receiver": "goldenpath",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
    }


def test_alertmanager_firing_then_resolved_is_one_incident(insights: InsightsService) -> None:
    [opened] = insights.alertmanager(_payload(_alert("firing")))
    [repeat] = insights.alertmanager(_payload(_alert("firing")))  # group_interval re-send
    assert repeat.id == opened.id
    assert (opened.title, opened.service, opened.severity, opened.state, opened.source) == (
        "checkout 5xx above 5%",
        "checkout",
        "sev1",
        "open",
        "alertmanager",
    )
    assert opened.opened_at == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)

    [closed] = insights.alertmanager(_payload(_alert("resolved")))
    assert closed.id == opened.id and closed.state == "resolved"
    assert closed.resolved_at == datetime(2026, 12, 1, 10, 45, tzinfo=UTC)
    assert len(insights.list_incidents()) == 1

    # the same alert firing again later is a new occurrence: a new incident
    later = _alert(
        "firing",
        startsAt="2026-12-02T08:00:00Z",
        labels={"alertname": "Disk", "app": "db"},
        annotations={},
    )
    [again] = insights.alertmanager(_payload(later))
    assert again.id != opened.id and (again.title, again.service) == ("Disk", "db")
    # a resolved notification for an alert never seen firing records it resolved
    missed = _alert("resolved", fingerprint="ffff000011112222")
    [late] = insights.alertmanager(_payload(missed))
    assert late.state == "resolved" and late.id not in (opened.id, again.id)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"version": "3", "alerts": []}, "version"),
        ({"version": "4"}, "alerts"),
        ({"version": "4", "alerts": [_alert("pending")]}, "alerts[0].status"),
        (
            {"version": "4", "alerts": [_alert("firing", startsAt="yesterday")]},
            "alerts[0].startsAt",
        ),
        (
            {"version": "4", "alerts": [_alert("firing"), _alert("firing", labels=[])]},
            "alerts[1].labels",
        ),
    ],
)
def test_a_bad_alertmanager_payload_names_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_alertmanager(payload)
    assert caught.value.details["field"] == field
    assert field.split(".")[-1].split("[")[0] in caught.value.message


def _deployment(db: Engine, at: datetime, **kw: Any) -> int:
    fields: dict[str, Any] = {
        "service": "shop",
        "environment": "production",
        "kind": "deploy",
        "strategy": "rolling",
        "repo": "/srv/git/shop",
        "ref": "main",
        "workload": {"name": "shop"},
        "steps": [],
        "triggered_by": "ada",
        "now": at,
    }
    fields.update(kw)
    return deploy_store.create_deployment(db, **fields).id


def _finish(db: Engine, deployment_id: int, at: datetime, last: str = "succeeded") -> None:
    deploy_store.transition(db, deployment_id, "building", actor="r", reason="b", now=at)
    deploy_store.transition(db, deployment_id, "progressing", actor="r", reason="p", now=at)
    deploy_store.transition(db, deployment_id, last, actor="r", reason=last, now=at)


def test_a_production_rollback_and_a_failed_canary_open_incidents_once(
    db: Engine, insights: InsightsService, settings: Settings, clock: Clock
) -> None:
    good = _deployment(db, T0)
    _finish(db, good, T0 + timedelta(minutes=5))
    bad = _deployment(db, T0 + timedelta(hours=1))
    deploy_store.set_revision(db, bad, sha=SHA, committed_at=T0, commit_author="Ada <a@x>")
    _finish(db, bad, T0 + timedelta(hours=1, minutes=5))
    back = _deployment(db, T0 + timedelta(hours=2), kind="rollback", rollback_of=bad)
    assert insights.sync_incidents() == 1
    [open_one] = insights.list_incidents()
    assert (open_one.state, open_one.source, open_one.fingerprint) == (
        "open",
        "deploy",
        f"deploy:{bad}",
    )
    assert (open_one.root_cause_deployment, open_one.root_cause_sha) == (bad, SHA)
    assert open_one.opened_at == T0 + timedelta(hours=2)

    _finish(db, back, T0 + timedelta(hours=2, minutes=3))  # the rollback restores service
    canary = _deployment(db, T0 + timedelta(hours=3), strategy="canary")
    _finish(db, canary, T0 + timedelta(hours=3, minutes=10), last="aborted")
    staging = _deployment(db, T0, environment="staging", kind="deploy")
    _finish(db, staging, T0, last="failed")  # not production: no incident

    assert insights.sync_incidents() == 1
    by_cause = {i.root_cause_deployment: i for i in insights.list_incidents()}
    assert set(by_cause) == {bad, canary}
    assert by_cause[bad].state == "resolved"
    assert by_cause[bad].resolved_at == T0 + timedelta(hours=2, minutes=3)
    assert by_cause[canary].to_dict()["resolvedAt"] == "2026-12-01T12:10:00Z"

    # a restarted server scans everything again and opens nothing twice
    fresh = InsightsService(engine=db, settings=settings, catalog=insights.catalog, clock=clock)
    assert fresh.sync_incidents() == 0
    assert len(fresh.list_incidents()) == 2
