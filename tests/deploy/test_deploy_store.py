"""Deployment records in the store, on SQLite and PostgreSQL: creation claims the target,
transitions go through the table, set-once fields, racing writers, history paging."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.deploy import store
from goldenpath.deploy.records import DEFAULT_ENVIRONMENTS, Deployment
from goldenpath.errors import Conflict, InvalidInput, NotFound, PlatformError

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The parametrised engine with the default environments."""
    store.ensure_environments(engine, DEFAULT_ENVIRONMENTS, now=T0)
    return engine


def new(engine: Engine, service: str = "shop", environment: str = "dev", **kw: Any) -> Deployment:
    fields: dict[str, Any] = {
        "service": service,
        "environment": environment,
        "kind": "deploy",
        "strategy": "canary",
        "repo": "/srv/git/shop",
        "ref": "main",
        "workload": {"name": service, "port": 8080, "env": {"A": "1"}},
        "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 100}],
        "triggered_by": "ada",
        "now": T0,
    }
    fields.update(kw)
    return store.create_deployment(engine, **fields)


def finish(engine: Engine, deployment_id: int, last: str = "succeeded") -> Deployment:
    store.transition(engine, deployment_id, "building", actor="reconciler", reason="build")
    store.transition(engine, deployment_id, "progressing", actor="reconciler", reason="built")
    return store.transition(engine, deployment_id, last, actor="ada", reason=f"{last} by ada")


def rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_deployment_moves_through_its_states_and_becomes_stable(db: Engine) -> None:
    created = new(db)
    assert (created.state, created.step_index, created.previous_id) == ("pending", 0, None)
    assert created.created_at == T0 and created.created_at.tzinfo is not None
    assert [(t.from_state, t.to_state, t.actor) for t in created.transitions] == [
        (None, "pending", "ada")
    ]
    target = store.get_target(db, "shop", "dev")
    assert target is not None and (target.active_id, target.stable_id) == (created.id, None)

    at = T0 + timedelta(seconds=30)
    store.transition(db, created.id, "building", actor="reconciler", reason="building", now=at)
    moved = store.transition(
        db,
        created.id,
        "progressing",
        actor="reconciler",
        reason="setWeight 10",
        now=at + timedelta(seconds=1),
        progress={"stepStartedAt": "2026-05-04T10:00:31Z"},
        step_index=1,
    )
    assert (moved.step_index, moved.progress, moved.message) == (
        1,
        {"stepStartedAt": "2026-05-04T10:00:31Z"},
        "setWeight 10",
    )
    done = store.transition(
        db, created.id, "succeeded", actor="ada", reason="promoted", now=at + timedelta(minutes=2)
    )
    assert done.state == "succeeded" and done.finished_at == at + timedelta(minutes=2)
    assert [(t.from_state, t.to_state) for t in done.transitions] == [
        (None, "pending"),
        ("pending", "building"),
        ("building", "progressing"),
        ("progressing", "succeeded"),
    ]
    assert [t.at for t in done.transitions] == sorted(t.at for t in done.transitions)
    target = store.get_target(db, "shop", "dev")
    assert target is not None and (target.active_id, target.stable_id) == (None, created.id)
    # what was asked for never moved
    asked = ("service", "environment", "kind", "strategy", "repo", "ref", "workload", "steps")
    assert {k: getattr(done, k) for k in asked} == {k: getattr(created, k) for k in asked}
    assert store.get_deployment(db, created.id) == done

    second = new(db, ref="v2")
    assert second.previous_id == created.id


@pytest.mark.parametrize("last", ["failed", "aborted"])
def test_failed_or_aborted_frees_the_target_and_keeps_the_stable_one(db: Engine, last: str) -> None:
    stable = finish(db, new(db).id)
    broken = finish(db, new(db).id, last)
    assert broken.state == last and broken.finished_at is not None
    target = store.get_target(db, "shop", "dev")
    assert target is not None and (target.active_id, target.stable_id) == (None, stable.id)


def test_an_illegal_transition_is_refused_naming_the_allowed_states(db: Engine) -> None:
    created = new(db)
    with pytest.raises(Conflict) as caught:
        store.transition(db, created.id, "succeeded", actor="ada", reason="skip ahead")
    assert "pending deployment cannot become succeeded" in caught.value.message
    assert "building, failed, aborted" in caught.value.message
    assert store.get_deployment(db, created.id) == created
    finish(db, created.id, "aborted")
    with pytest.raises(Conflict, match="aborted is terminal"):
        store.transition(db, created.id, "progressing", actor="ada", reason="again")
    with pytest.raises(NotFound, match="deployment 999 does not exist"):
        store.transition(db, 999, "building", actor="ada", reason="x")


def test_a_second_deploy_while_one_is_in_flight_is_refused_with_its_id(db: Engine) -> None:
    first = new(db)
    store.transition(db, first.id, "building", actor="reconciler", reason="build")
    with pytest.raises(Conflict) as caught:
        new(db, ref="other")
    message = caught.value.message
    assert f"deployment {first.id} is building" in message
    assert "platform deploy abort shop --env dev" in message
    assert caught.value.details["activeId"] == first.id
    for _ in range(4):  # still refused once the statements are prepared on the connection
        with pytest.raises(Conflict):
            new(db, ref="again")
    assert rows(db, "deploy_deployments") == 1 and rows(db, "deploy_transitions") == 2
    # other services and other environments are independent
    assert new(db, service="cart").state == "pending"
    assert new(db, environment="staging").state == "pending"


def _race(workers: int, call: Callable[[int], Any]) -> tuple[list[Any], list[Exception]]:
    barrier = threading.Barrier(workers)
    won: list[Any] = []
    lost: list[Exception] = []

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            won.append(call(i))
        except Exception as e:  # collected and asserted on below
            lost.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return won, lost


def test_racing_creates_exactly_one_wins(db: Engine) -> None:
    won, lost = _race(6, lambda i: new(db, ref=f"r{i}", triggered_by=f"user{i}"))
    assert len(won) == 1 and len(lost) == 5
    assert all(isinstance(e, Conflict) and f"deployment {won[0].id}" in str(e) for e in lost)
    assert [d.id for d in store.list_deployments(db)] == [won[0].id]
    target = store.get_target(db, "shop", "dev")
    assert target is not None and target.active_id == won[0].id


def test_racing_transitions_exactly_one_wins(db: Engine) -> None:
    created = new(db)
    store.transition(db, created.id, "building", actor="reconciler", reason="build")
    store.transition(db, created.id, "progressing", actor="reconciler", reason="built")
    ends = ["succeeded", "aborted", "failed", "aborted"]  # all terminal: one end only
    won, lost = _race(4, lambda i: store.transition(db, created.id, ends[i], actor="a", reason=""))
    assert len(won) == 1 and len(lost) == 3
    assert all(isinstance(e, Conflict) for e in lost)
    final = store.get_deployment(db, created.id)
    assert final.state == won[0].state
    assert [t.to_state for t in final.transitions][-1] == won[0].state
    assert len(final.transitions) == 4


def test_commit_and_release_are_set_once(db: Engine) -> None:
    created = new(db)
    committed = datetime(2026, 5, 4, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    once = store.set_revision(
        db, created.id, sha=SHA, committed_at=committed, commit_author="Ada <a@x>"
    )
    assert once.sha == SHA and once.committed_at == committed
    assert once.committed_at is not None and once.committed_at.utcoffset() == timedelta(0)
    again = store.set_revision(  # a retry with the same values is fine
        db, created.id, sha=SHA, committed_at=committed, commit_author="Ada <a@x>"
    )
    assert again == once
    with pytest.raises(Conflict, match="already has its commit"):
        store.set_revision(
            db, created.id, sha="f" * 40, committed_at=committed, commit_author="Ada <a@x>"
        )
    with pytest.raises(InvalidInput, match="not a git commit id"):
        store.set_revision(db, created.id, sha="main", committed_at=T0, commit_author="x")
    assert store.set_release(db, created.id, "rel-1").release_id == "rel-1"
    assert store.set_release(db, created.id, "rel-1").release_id == "rel-1"
    with pytest.raises(Conflict, match=r"already has its release \(rel-1\)"):
        store.set_release(db, created.id, "rel-2")
    final = store.get_deployment(db, created.id)
    assert (final.sha, final.release_id) == (SHA, "rel-1")
    with pytest.raises(NotFound):
        store.set_release(db, 999, "rel-1")


def test_progress_updates_leave_the_state_alone(db: Engine) -> None:
    created = new(db)
    updated = store.update_progress(
        db, created.id, progress={"analysisRuns": [1, 2]}, step_index=2, message="analysing"
    )
    assert (updated.state, updated.step_index, updated.message) == ("pending", 2, "analysing")
    assert updated.progress == {"analysisRuns": [1, 2]}
    with pytest.raises(InvalidInput, match="step_index"):
        store.update_progress(db, created.id, step_index=-1, message="ignored")
    with pytest.raises(InvalidInput, match="progress is not plain JSON"):
        store.update_progress(db, created.id, progress={"x": float("nan")})
    assert store.get_deployment(db, created.id) == updated


def test_history_is_newest_first_with_paging_and_filters(db: Engine) -> None:
    made = []
    for i in range(5):
        made.append(finish(db, new(db, ref=f"v{i}").id, "failed" if i == 2 else "succeeded"))
    other = new(db, service="cart", environment="staging")
    page = store.list_deployments(db, service="shop", limit=2)
    assert [d.id for d in page] == [made[4].id, made[3].id]
    nxt = store.list_deployments(db, service="shop", limit=2, before_id=page[-1].id)
    assert [d.id for d in nxt] == [made[2].id, made[1].id]
    last = store.list_deployments(db, service="shop", limit=2, before_id=nxt[-1].id)
    assert [d.id for d in last] == [made[0].id]
    assert all(len(d.transitions) == 4 for d in page + nxt + last)
    assert [d.id for d in store.list_deployments(db)] == [other.id] + [d.id for d in made[::-1]]
    assert [d.id for d in store.list_deployments(db, environment="staging")] == [other.id]
    assert [d.id for d in store.list_deployments(db, states=["failed"])] == [made[2].id]
    assert [d.id for d in store.in_flight(db)] == [other.id]
    with pytest.raises(InvalidInput, match="limit 0"):
        store.list_deployments(db, limit=0)
    with pytest.raises(InvalidInput, match="running"):
        store.list_deployments(db, states=["running"])


def test_in_flight_lists_every_unfinished_deployment_oldest_first(db: Engine) -> None:
    a = new(db, service="a")
    b = new(db, service="b")
    c = new(db, service="c")
    finish(db, b.id)
    store.transition(db, c.id, "building", actor="r", reason="")
    assert [(d.id, d.state) for d in store.in_flight(db)] == [(a.id, "pending"), (c.id, "building")]


def test_weights_are_checked_and_kept_on_the_target(db: Engine) -> None:
    created = new(db)
    target = store.set_weights(db, "shop", "dev", {"d0": 90, f"d{created.id}": 10})
    assert target.weights == {"d0": 90, f"d{created.id}": 10}
    assert target.active_id == created.id
    for bad in ({"d1": 90}, {"d1": 101, "d2": -1}, {"d1": True}):
        with pytest.raises(InvalidInput):
            store.set_weights(db, "shop", "dev", bad)
    assert store.get_target(db, "shop", "dev") == target
    assert store.set_weights(db, "new", "staging", {}).weights == {}
    assert [t.service for t in store.list_targets(db, environment="dev")] == ["shop"]
    assert {(t.service, t.environment) for t in store.list_targets(db)} == {
        ("shop", "dev"),
        ("new", "staging"),
    }
    store.delete_targets(db, "dev", "shop")
    assert store.get_target(db, "shop", "dev") is None
    assert store.get_deployment(db, created.id).state == "pending"


def test_rollbacks_name_a_deployment_of_the_same_target(db: Engine) -> None:
    first = finish(db, new(db).id)
    finish(db, new(db).id)
    back = new(db, kind="rollback", rollback_of=first.id, repo=None, ref=None)
    assert (back.kind, back.rollback_of, back.repo) == ("rollback", first.id, None)
    finish(db, back.id)
    with pytest.raises(NotFound, match="rollback_of: deployment 999"):
        new(db, kind="rollback", rollback_of=999)
    with pytest.raises(InvalidInput, match="not cart in dev"):
        new(db, service="cart", kind="rollback", rollback_of=first.id)
    with pytest.raises(InvalidInput, match="rollback_of is required"):
        new(db, kind="rollback")


@pytest.mark.parametrize(
    ("overrides", "error", "text"),
    [
        ({"service": "Shop_1"}, InvalidInput, "not a DNS label"),
        ({"kind": "hotfix"}, InvalidInput, "kind 'hotfix' is unknown"),
        ({"strategy": "big-bang"}, InvalidInput, "rolling, canary, blue-green"),
        ({"triggered_by": ""}, InvalidInput, "triggered_by is empty"),
        ({"steps": [{"pause": {"duration": float("inf")}}]}, InvalidInput, "steps is not plain"),
        ({"environment": "qa"}, NotFound, "known: dev, production, staging"),
    ],
)
def test_a_failed_create_changes_nothing(
    db: Engine, overrides: dict[str, Any], error: type[PlatformError], text: str
) -> None:
    with pytest.raises(error) as caught:
        new(db, **overrides)
    assert text in caught.value.message
    assert rows(db, "deploy_deployments") == 0
    assert rows(db, "deploy_transitions") == 0
    assert rows(db, "deploy_targets") == 0
