"""The policy REST API on the real app: listing files, dry checks (recorded only when asked),
decisions with filters, tests of uploaded files, reload with a malformed file, roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apihelpers import PROBLEM, Api

V1 = "/api/policy/v1"


def deploy_input(**service: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "environment": {"name": "production", "production": True},
        "service": {
            "name": "hello",
            "tier": "standard",
            "replicas": 2,
            "cpu": "500m",
            "memory": "256Mi",
            "images": ["python:3.12"],
            "slo": None,
            "network_policy": True,
            "resources": [],
        },
        "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"},
        "actor": "user:default/admin",
    }
    doc["service"].update(service)
    return doc


def test_policies_lists_the_builtin_files_and_their_rules(api: Api) -> None:
    response = api.get(f"{V1}/policies")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["enabled"] is True and body["loadError"] is None
    assert body["directory"] == str(api.settings.home / "policies")
    names = {f["name"]: f for f in body["items"]}
    assert set(names) == {"ownership.rego", "resources.rego", "workload.rego"}
    assert names["resources.rego"]["rules"] == ["production-backups"]
    assert names["workload.rego"]["source"] == "builtin"


def test_evaluate_is_a_dry_check_unless_asked_to_record(api: Api) -> None:
    dry = api.post(
        f"{V1}/evaluate",
        json={"action": "deploy", "input": deploy_input(replicas=1), "subject": "service hello"},
    )
    assert dry.status_code == 200, dry.text
    decision = dry.json()
    assert decision["allowed"] is False and decision["id"] is None
    assert decision["actor"] == "user:default/admin"
    assert [d["rule"] for d in decision["denials"]] == ["production-replicas"]
    assert decision["denials"][0]["fix"].startswith("set `replicas: 2`")
    assert api.get(f"{V1}/decisions").json() == []

    kept = api.post(
        f"{V1}/evaluate",
        json={"action": "deploy", "input": deploy_input(replicas=1), "record": True},
    ).json()
    assert kept["id"] is not None and kept["inputDigest"] == decision["inputDigest"]
    ok = api.post(
        f"{V1}/evaluate", json={"action": "deploy", "input": deploy_input(), "record": True}
    ).json()
    assert ok["allowed"] is True and ok["denials"] == []
    listed = api.get(f"{V1}/decisions").json()
    assert [d["id"] for d in listed] == [ok["id"], kept["id"]]
    denied = api.get(f"{V1}/decisions", params={"allowed": "false", "action": "deploy"}).json()
    assert [d["id"] for d in denied] == [kept["id"]]
    assert api.get(f"{V1}/decisions", params={"action": "scaffold"}).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"action": "destroy", "input": {}},
        {"action": "deploy"},
        {"action": "deploy", "input": [1, 2]},
        {"action": "deploy", "input": {}, "extra": 1},
    ],
)
def test_bad_evaluate_bodies_are_problems(api: Api, body: dict[str, Any]) -> None:
    response = api.post(f"{V1}/evaluate", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_uploaded_files_are_tested_and_a_compile_error_names_its_position(api: Api) -> None:
    files = {
        "costs.rego": (
            "package goldenpath.costs\n\nimport rego.v1\n\n"
            "warn contains v if {\n    is_number(input.service.replicas)\n"
            "    input.service.replicas > 4\n"
            '    v := {"rule": "cost", "message": "many", "fix": "fewer"}\n}\n'
        ),
        "costs_test.yaml": (
            "cases:\n"
            "  - name: many replicas warn\n"
            "    input: {action: deploy, service: {replicas: 9}, owner: {ref: group:default/a,\n"
            "            exists: true, kind: Group}}\n"
            "    expect: {warn: [cost]}\n"
            "  - name: a wrong expectation fails\n"
            "    input: {action: deploy, service: {replicas: 9}, owner: {ref: group:default/a,\n"
            "            exists: true, kind: Group}}\n"
            "    expect: {deny: [cost]}\n"
        ),
    }
    response = api.post(f"{V1}/test", json={"files": files})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False and report["failed"] == 1 and report["passed"] >= 20, [
        c for c in report["cases"] if not c["passed"]
    ]
    failed = [c for c in report["cases"] if not c["passed"]]
    assert failed[0]["name"] == "a wrong expectation fails"
    assert failed[0]["expected"] == {"deny": ["cost"], "warn": []}
    assert failed[0]["actual"] == {"deny": [], "warn": ["cost"]}
    assert "costs.rego" in {f["name"] for f in report["files"]}

    broken = {"costs.rego": "package goldenpath.costs\n\nwarn contains v if {\n  input.x ==\n}\n"}
    response = api.post(f"{V1}/test", json={"files": broken})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["detail"].startswith("costs.rego:4:11: ")
    assert (problem["file"], problem["line"], problem["column"]) == ("costs.rego", 4, 11)


def test_reload_rejects_a_malformed_file_and_keeps_the_bundle(api: Api) -> None:
    policies: Path = api.settings.home / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "extra.rego").write_text(
        "package goldenpath.extra\n\ndeny contains v if {\n", "utf-8"
    )
    response = api.post(f"{V1}/reload")
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("extra.rego:")
    listing = api.get(f"{V1}/policies").json()
    assert listing["loadError"].startswith("extra.rego:")
    assert {f["name"] for f in listing["items"]} == {
        "ownership.rego",
        "resources.rego",
        "workload.rego",
    }
    (policies / "extra.rego").write_text("package goldenpath.extra\n", "utf-8")
    reloaded = api.post(f"{V1}/reload")
    assert reloaded.status_code == 200 and reloaded.json()["loadError"] is None
    assert "extra.rego" in {f["name"] for f in reloaded.json()["items"]}


def test_viewers_read_members_check_and_only_admins_reload(api: Api) -> None:
    viewer = api.token_for("user:default/admin", "viewer")
    member = api.token_for("user:default/admin", "member")
    assert api.get(f"{V1}/policies", token=viewer).status_code == 200
    assert api.get(f"{V1}/decisions", token=viewer).status_code == 200
    body = {"action": "deploy", "input": deploy_input()}
    assert api.post(f"{V1}/evaluate", token=viewer, json=body).status_code == 403
    assert api.post(f"{V1}/evaluate", token=member, json=body).status_code == 200
    assert api.post(f"{V1}/reload", token=member).status_code == 403
    assert api.get(f"{V1}/policies", token="gp_nope").status_code == 401
