"""Ownership in the API: members deploy, promote, abort, roll back, set secrets and claim
resources only for services their groups own; admins always; refusals are 403 problems that
name the owner, and change nothing. Also the local users API (``/api/auth/users``).

One app per module on the sample catalog (Group team-a owns checkout, payments, ...; User jane
is in team-a) plus Group team-b with User bob; the workers are off, so nothing is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apihelpers import PROBLEM, SAMPLE_CATALOG, Api, make_settings
from deployhelpers import V1
from fastapi.testclient import TestClient

from goldenpath.api.app import create_app

PEOPLE = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: [], members: [bob]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: []}
"""
SPEC = """\
apiVersion: goldenpath.dev/v1
kind: Service
metadata:
  name: {name}
  {team}
spec:
  build: {{kind: package, package: "datasette==0.65.1"}}
  run:
    command: [datasette, --port, $PORT]
"""
SECRETS = "/api/secrets/v1"
RESOURCES = "/api/resources/v1"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    base = tmp_path_factory.mktemp("ownership")
    people = base / "people.yaml"
    people.write_text(PEOPLE, encoding="utf-8")
    settings = make_settings(base / "home")
    app = create_app(settings, start_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        running = Api(client, settings)
        running.register(SAMPLE_CATALOG)
        running.register(people)
        yield running


@pytest.fixture(scope="module")
def tokens(api: Api) -> dict[str, str]:
    return {
        "jane": api.token_for("user:default/jane", "member"),
        "bob": api.token_for("user:default/bob", "member"),
        "admin": api.admin_token,
    }


def _refused(response: Any, owner: str) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    detail: str = response.json()["detail"]
    assert f"owned by {owner}" in detail and f"members of {owner} and admins" in detail
    return detail


def _deploy(api: Api, token: str, name: str, team: str = "") -> Any:
    spec = SPEC.format(name=name, team=f"team: {team}" if team else "")
    return api.post(f"{V1}/deployments", token, json={"environment": "dev", "spec": spec})


def test_only_the_owning_team_deploys_and_steers_a_service(
    api: Api, tokens: dict[str, str]
) -> None:
    detail = _refused(_deploy(api, tokens["bob"], "checkout"), "group:default/team-a")
    assert "user:default/bob may not deploy checkout" in detail
    assert api.get(f"{V1}/deployments", params={"service": "checkout"}).json() == []
    made = _deploy(api, tokens["jane"], "checkout")
    assert made.status_code == 202, made.text
    target = f"{V1}/services/checkout/environments/dev"
    for verb in ("promote", "abort", "rollback"):
        _refused(api.post(f"{target}/{verb}", tokens["bob"]), "group:default/team-a")
    assert api.get(f"{V1}/deployments/{made.json()['id']}").json()["state"] == "pending"
    aborted = api.post(f"{target}/abort", tokens["jane"])
    assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"


def test_a_service_outside_the_catalog_is_owned_by_its_specs_team(
    api: Api, tokens: dict[str, str]
) -> None:
    _refused(_deploy(api, tokens["jane"], "scratch-b", team="team-b"), "group:default/team-b")
    made = _deploy(api, tokens["bob"], "scratch-b", team="team-b")
    assert made.status_code == 202, made.text
    # later steps find the team in the latest deployment's spec
    target = f"{V1}/services/scratch-b/environments/dev"
    _refused(api.post(f"{target}/abort", tokens["jane"]), "group:default/team-b")
    assert api.post(f"{target}/abort", tokens["admin"]).status_code == 200
    # no catalog entry and no team: unowned, so any member may act
    assert _deploy(api, tokens["jane"], "scratch-open").status_code == 202


def test_only_the_owning_team_sets_a_services_secrets(api: Api, tokens: dict[str, str]) -> None:
    body = {"value": "s3cret-value", "service": "payments", "environment": "dev"}
    detail = _refused(
        api.client.put(f"{SECRETS}/secrets/API_KEY", json=body, headers=api.headers(tokens["bob"])),
        "group:default/team-a",
    )
    assert "s3cret-value" not in detail
    assert api.get(f"{SECRETS}/secrets", params={"service": "payments"}).json() == []
    for who in ("jane", "admin"):
        done = api.client.put(
            f"{SECRETS}/secrets/API_KEY", json=body, headers=api.headers(tokens[who])
        )
        assert done.status_code == 200, done.text
    many = {"values": {"A": "x"}, "service": "payments", "environment": "dev"}
    _refused(api.post(f"{SECRETS}/secrets", tokens["bob"], json=many), "group:default/team-a")
    deleting = api.client.delete(
        f"{SECRETS}/secrets/API_KEY",
        params={"service": "payments", "environment": "dev"},
        headers=api.headers(tokens["bob"]),
    )
    _refused(deleting, "group:default/team-a")
    rotate = {"name": "API_KEY", "service": "payments", "environment": "dev"}
    _refused(api.post(f"{SECRETS}/rotate", tokens["bob"], json=rotate), "group:default/team-a")
    everything = api.post(f"{SECRETS}/rotate", tokens["jane"], json={"all": True})
    assert everything.status_code == 403 and "every scope needs an admin" in everything.text
    shared = api.client.put(
        f"{SECRETS}/secrets/SHARED", json={"value": "v"}, headers=api.headers(tokens["bob"])
    )
    assert shared.status_code == 200  # no service: not a service's secret


def test_only_the_owning_team_claims_a_resource_for_it(api: Api, tokens: dict[str, str]) -> None:
    claim = {"name": "orders", "type": "postgres", "owner": "group:default/team-a"}
    detail = _refused(
        api.post(f"{RESOURCES}/claims", tokens["bob"], json=claim), "group:default/team-a"
    )
    assert "user:default/bob may not change the orders claim in dev" in detail
    assert api.get(f"{RESOURCES}/claims").json() == []


def test_admins_manage_local_users_and_users_their_own_password(
    api: Api, tokens: dict[str, str]
) -> None:
    users = "/api/auth/users"
    made = api.post(users, json={"user": "jane", "password": "correct-horse"})
    assert made.status_code == 201, made.text
    assert made.json()["user"] == "user:default/jane" and made.json()["role"] == "member"
    assert "correct-horse" not in made.text and "argon2" not in made.text
    assert api.post(users, json={"user": "jane"}).status_code == 409
    ghost = api.post(users, json={"user": "ghost", "password": "long-enough"})
    assert ghost.status_code == 400 and "no User entity" in ghost.json()["detail"]
    assert api.post(users, tokens["jane"], json={"user": "bob"}).status_code == 403
    assert api.get(users, tokens["jane"]).status_code == 403
    own = api.client.put(
        f"{users}/jane/password",
        json={"password": "new-password"},
        headers=api.headers(tokens["jane"]),
    )
    assert own.status_code == 200, own.text
    api.post(users, json={"user": "bob", "role": "member"})
    other = api.client.put(
        f"{users}/user:default/bob/password",
        json={"password": "not-yours-1"},
        headers=api.headers(tokens["jane"]),
    )
    assert other.status_code == 403
    short = api.client.put(
        f"{users}/user:default/bob/password", json={"password": "short"}, headers=api.headers()
    )
    assert short.status_code == 400 and "8 to 1024 characters" in short.json()["detail"]
    listed = api.get(users).json()["items"]
    assert [(u["user"], u["hasPassword"]) for u in listed] == [
        ("user:default/bob", False),
        ("user:default/jane", True),
    ]
    assert api.post(f"{users}/bob/disable").json()["disabled"] is True
    assert api.post(f"{users}/bob/enable").json()["disabled"] is False
    assert api.get(f"{users}/jane", tokens["jane"]).json()["user"] == "user:default/jane"
