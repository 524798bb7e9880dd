"""The deploy REST API without running services: bad input → problem+json naming the field
and no record, roles, unknown ids, environments (create, TTL, clone, delete)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apihelpers import PROBLEM, Api
from deployhelpers import V1, make_repo


def _no_deployments(api: Api) -> None:
    listed = api.get(f"{V1}/deployments")
    assert listed.status_code == 200 and listed.json() == []


def _field_named(body: dict, field: str) -> bool:
    paths = [e.get("path") for e in body.get("errors") or []]
    return field in paths or any(str(p).endswith(f".{field}") for p in paths)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"environment": "dev"}, "repo"),
        ({"environment": "dev", "repo": "/x", "canary": 0}, "canary"),
        ({"environment": "dev", "repo": "/x", "canary": "101%"}, "canary"),
        ({"environment": "dev", "repo": "/x", "canary": "ten"}, "canary"),
        ({"environment": "dev", "repo": "/x", "strategy": "big-bang"}, "strategy"),
        ({"environment": "", "repo": "/x"}, "environment"),
        ({"environment": "dev", "repo": "/x", "canry": 10}, "canry"),
    ],
)
def test_bad_deploy_body_is_a_problem_naming_the_field(api: Api, body: dict, field: str) -> None:
    response = api.post(f"{V1}/deployments", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert _field_named(response.json(), field), response.json()
    _no_deployments(api)


def test_invalid_spec_in_the_repo_names_file_line_and_field(api: Api, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", replicas="lots")
    response = api.post(f"{V1}/deployments", json={"environment": "dev", "repo": str(repo)})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == "spec.runtime.replicas" and problem["line"] == 12
    assert "platform.yaml:12: spec.runtime.replicas" in problem["detail"]
    _no_deployments(api)


def test_unknown_environment_ref_and_repo_are_refused_without_a_record(
    api: Api, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "svc")
    cases = [
        ({"environment": "nowhere", "repo": str(repo)}, 404),
        ({"environment": "dev", "repo": str(repo), "ref": "no-such-branch"}, 404),
        ({"environment": "dev", "repo": str(tmp_path / "missing")}, 404),
        ({"environment": "dev", "repo": str(repo), "specPath": "nope.yaml"}, 404),
        # longer than git's message buffer: its reason was cut off, and this was a 503
        ({"environment": "dev", "repo": "0" * 4096}, 404),
    ]
    for body, status in cases:
        response = api.post(f"{V1}/deployments", json=body)
        assert response.status_code in (status, 400), (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
    _no_deployments(api)


def test_viewers_read_but_cannot_deploy_or_change_environments(api: Api) -> None:
    viewer = api.token_for("user:default/admin", "viewer")
    assert api.get(f"{V1}/deployments", token=viewer).status_code == 200
    assert api.get(f"{V1}/environments", token=viewer).status_code == 200
    writes = [
        api.post(f"{V1}/deployments", token=viewer, json={"repo": "/x"}),
        api.post(f"{V1}/services/a/environments/dev/promote", token=viewer),
        api.post(f"{V1}/services/a/environments/dev/abort", token=viewer),
        api.post(f"{V1}/services/a/environments/dev/rollback", token=viewer),
        api.post(f"{V1}/environments", token=viewer, json={"name": "pr-1"}),
        api.delete(f"{V1}/environments/dev", token=viewer),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert api.client.get(f"{V1}/deployments").status_code == 401


def test_unknown_deployment_is_404(api: Api) -> None:
    for path in (f"{V1}/deployments/999", f"{V1}/deployments/999/eventstream"):
        response = api.get(path)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith(PROBLEM)


def test_promote_abort_rollback_with_nothing_deployed(api: Api) -> None:
    for action in ("promote", "abort", "rollback"):
        response = api.post(f"{V1}/services/ghost/environments/dev/{action}")
        assert response.status_code in (404, 409), (action, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
    _no_deployments(api)


def test_bad_logs_since_names_the_parameter(api: Api) -> None:
    response = api.get(f"{V1}/services/a/environments/dev/logs", params={"since": "yesterday"})
    assert response.status_code == 400
    assert _field_named(response.json(), "since")


def test_environments_lifecycle(api: Api) -> None:
    names = [e["name"] for e in api.get(f"{V1}/environments").json()]
    assert {"dev", "staging", "production"} <= set(names)

    created = api.post(f"{V1}/environments", json={"name": "pr-1", "from": "staging", "ttl": "24h"})
    assert created.status_code == 201, created.text
    env = created.json()
    assert env["name"] == "pr-1" and env["parent"] == "staging"
    assert (
        env["ephemeral"] is True and env["expiresAt"] and env["createdBy"] == "user:default/admin"
    )

    duplicate = api.post(f"{V1}/environments", json={"name": "pr-1"})
    assert duplicate.status_code == 409
    bad_name = api.post(f"{V1}/environments", json={"name": "PR_1"})
    assert bad_name.status_code == 400 and "DNS label" in bad_name.json()["detail"]
    bad_ttl = api.post(f"{V1}/environments", json={"name": "pr-2", "ttl": "forever"})
    assert bad_ttl.status_code == 400 and _field_named(bad_ttl.json(), "ttl")
    # beyond what a date holds: was a 500 (OverflowError), found by fuzzing the CLI
    for ttl in (1e23, "99999999999999999999999", "4000d"):
        huge = api.post(f"{V1}/environments", json={"name": "pr-2", "ttl": ttl})
        assert huge.status_code == 400 and _field_named(huge.json(), "ttl"), huge.text
    unknown_source = api.post(f"{V1}/environments", json={"name": "pr-3", "from": "nowhere"})
    assert unknown_source.status_code == 404

    cloned = api.post(f"{V1}/environments/pr-1/clone", json={"name": "pr-1-copy", "ttl": 3600})
    assert cloned.status_code == 201, cloned.text
    assert cloned.json()["parent"] == "pr-1" and cloned.json()["ephemeral"] is True

    for name in ("pr-1-copy", "pr-1"):
        deleted = api.delete(f"{V1}/environments/{name}")
        assert deleted.status_code == 200, deleted.text
    names = [e["name"] for e in api.get(f"{V1}/environments").json()]
    assert "pr-1" not in names and "pr-1-copy" not in names
    assert api.delete(f"{V1}/environments/pr-1").status_code == 404
