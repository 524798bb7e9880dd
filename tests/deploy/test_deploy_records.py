"""Deployment records as data: wire shapes (camelCase, ISO-8601 UTC), the version label and
environment names (DNS labels)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from goldenpath.deploy.records import (
    Deployment,
    Environment,
    Target,
    Transition,
    validate_environment_name,
)
from goldenpath.errors import InvalidInput

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def make_deployment(**overrides: object) -> Deployment:
    fields: dict[str, object] = {
        "id": 7,
        "service": "shop",
        "environment": "dev",
        "kind": "deploy",
        "strategy": "canary",
        "repo": "/srv/git/shop",
        "ref": "main",
        "sha": "a" * 40,
        "committed_at": T0 - timedelta(hours=1),
        "commit_author": "Ada <ada@example.com>",
        "release_id": "r-1",
        "workload": {"name": "shop", "port": 8080},
        "steps": ({"setWeight": 10}, {"pause": {}}),
        "step_index": 1,
        "progress": {"stepStartedAt": "x"},
        "state": "paused",
        "message": "waiting for promote",
        "triggered_by": "ada",
        "rollback_of": None,
        "previous_id": 6,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=5),
        "finished_at": None,
        "transitions": (
            Transition(None, "pending", T0, "ada", "deploy by ada"),
            Transition("pending", "building", T0 + timedelta(seconds=1), "reconciler", "build"),
        ),
    }
    fields.update(overrides)
    return Deployment(**fields)


def test_deployment_to_dict_is_camel_case_json_with_utc_times() -> None:
    body = make_deployment().to_dict()
    assert json.loads(json.dumps(body)) == body
    assert {
        "id",
        "service",
        "environment",
        "kind",
        "strategy",
        "repo",
        "ref",
        "sha",
        "committedAt",
        "commitAuthor",
        "releaseId",
        "version",
        "steps",
        "stepIndex",
        "state",
        "message",
        "triggeredBy",
        "rollbackOf",
        "previousId",
        "createdAt",
        "updatedAt",
        "finishedAt",
        "transitions",
        "workload",
    } <= set(body)
    assert body["version"] == "d7"
    assert body["createdAt"] == "2026-03-01T09:30:00Z"
    assert body["committedAt"] == "2026-03-01T08:30:00Z"
    assert body["finishedAt"] is None
    assert body["steps"] == [{"setWeight": 10}, {"pause": {}}]
    assert body["transitions"] == [
        {"from": None, "to": "pending", "at": "2026-03-01T09:30:00Z", "actor": "ada",
         "reason": "deploy by ada"},
        {"from": "pending", "to": "building", "at": "2026-03-01T09:30:01Z",
         "actor": "reconciler", "reason": "build"},
    ]  # fmt: skip


def test_deployment_is_frozen_and_knows_when_it_is_over() -> None:
    deployment = make_deployment()
    with pytest.raises(AttributeError):
        deployment.sha = "b" * 40
    assert not deployment.terminal
    assert make_deployment(state="aborted").terminal


def test_environment_and_target_shapes() -> None:
    env = Environment(
        name="pr-12",
        driver="local",
        settings={"portBase": 9000},
        parent="dev",
        ephemeral=True,
        expires_at=T0 + timedelta(hours=24),
        created_at=T0,
        created_by="ada",
        status="active",
    )
    assert env.to_dict() == {
        "name": "pr-12",
        "driver": "local",
        "settings": {"portBase": 9000},
        "parent": "dev",
        "ephemeral": True,
        "expiresAt": "2026-03-02T09:30:00Z",
        "createdAt": "2026-03-01T09:30:00Z",
        "createdBy": "ada",
        "status": "active",
    }
    target = Target("shop", "dev", stable_id=3, active_id=None, weights={"d3": 100}, updated_at=T0)
    assert target.to_dict() == {
        "service": "shop",
        "environment": "dev",
        "stableId": 3,
        "activeId": None,
        "weights": {"d3": 100},
        "updatedAt": "2026-03-01T09:30:00Z",
    }


@pytest.mark.parametrize("name", ["dev", "pr-123", "a", "x" * 40, "0staging9"])
def test_dns_labels_are_valid_environment_names(name: str) -> None:
    assert validate_environment_name(name) == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("", "empty"),
        ("PR_123", "e.g. 'pr-123'"),
        ("-dev", "starting and ending"),
        ("dev-", "starting and ending"),
        ("x" * 41, "1-40"),
        ("my env", "e.g. 'my-env'"),
    ],
)
def test_other_environment_names_are_refused_with_the_fix(name: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_environment_name(name)
    assert hint in caught.value.message
