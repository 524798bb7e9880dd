"""``/api/secrets/v1`` through the real app: roles (401/403), metadata-only responses, the
admin-only reveal, set-many, rotation, delete, and a wrong master key refusing to start."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from apihelpers import PROBLEM, Api
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from goldenpath.api.app import create_app
from goldenpath.secrets.keyring import MasterKeyMissing

BASE = "/api/secrets/v1"
VALUE = "s3cr3t-Value-XYZ-7781"


def put(api: Api, name: str, body: dict[str, Any], token: str | None = None) -> Any:
    return api.client.put(f"{BASE}/secrets/{name}", headers=api.headers(token), json=body)


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    detail: str = response.json()["detail"]
    return detail


def test_secrets_need_a_token_and_viewers_only_read(api: Api) -> None:
    assert api.client.get(f"{BASE}/secrets").status_code == 401
    assert api.client.put(f"{BASE}/secrets/A", json={"value": VALUE}).status_code == 401
    viewer = api.token_for("user:default/admin", "viewer")
    problem(put(api, "A", {"value": VALUE}, token=viewer), 403)
    assert api.get(f"{BASE}/secrets", token=viewer).json() == []


def test_responses_carry_metadata_never_the_value(api: Api) -> None:
    member = api.token_for("user:default/admin", "member")
    seen: list[str] = []
    first = put(
        api, "DB_PASSWORD", {"value": VALUE, "service": "api", "environment": "dev"}, member
    )
    assert first.status_code == 200, first.text
    meta = first.json()
    assert meta["name"] == "DB_PASSWORD" and meta["version"] == 1 and meta["source"] == "user"
    assert (meta["service"], meta["environment"]) == ("api", "dev")
    assert meta["updatedBy"] == "user:default/admin" and meta["keyId"] == "k1"
    seen.append(first.text)
    second = put(api, "DB_PASSWORD", {"value": VALUE + "2", "service": "api", "environment": "dev"})
    assert second.json()["version"] == 2
    seen.append(second.text)
    many = api.post(f"{BASE}/secrets", json={"values": {"A": VALUE + "a", "B": VALUE + "b"}})
    assert [m["name"] for m in many.json()] == ["A", "B"]
    seen.append(many.text)
    listing = api.get(f"{BASE}/secrets")
    assert [(m["name"], m["service"]) for m in listing.json()] == [
        ("A", None),
        ("B", None),
        ("DB_PASSWORD", "api"),
    ]
    exact = api.get(f"{BASE}/secrets", params={"service": "api", "environment": "dev"}).json()
    assert [m["name"] for m in exact] == ["DB_PASSWORD"]
    versions = api.get(
        f"{BASE}/secrets/DB_PASSWORD/versions", params={"service": "api", "environment": "dev"}
    )
    assert [v["version"] for v in versions.json()] == [2, 1]
    seen += [listing.text, versions.text, str(exact)]
    rotated = api.post(f"{BASE}/rotate", json={"all": True})
    assert {r["outcome"] for r in rotated.json()["results"]} == {"re-encrypted"}
    seen.append(rotated.text)
    bad = put(api, "db-password", {"value": VALUE})
    assert "DB_PASSWORD" in problem(bad, 400)
    seen.append(bad.text)
    too_big = put(api, "BIG", {"value": VALUE * 4000})
    problem(too_big, 400)
    seen.append(too_big.text)
    assert not any(VALUE in text_ for text_ in seen)
    engine = create_engine(api.settings.effective_database_url)
    with engine.connect() as conn:
        audit = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")))
        rows = " ".join(str(r) for r in conn.execute(text("SELECT * FROM secrets_versions")))
    engine.dispose()
    assert "PUT /api/secrets/v1/secrets/{name}" in audit and VALUE not in audit
    assert VALUE not in rows


def test_only_admins_reveal_a_value(api: Api) -> None:
    put(api, "TOKEN", {"value": VALUE, "environment": "dev"})
    member = api.token_for("user:default/admin", "member")
    path = f"{BASE}/secrets/TOKEN/value"
    detail = problem(api.get(path, token=member, params={"environment": "dev"}), 403)
    assert "needs an admin token (yours is member)" in detail and VALUE not in detail
    revealed = api.get(path, params={"environment": "dev"})
    assert revealed.status_code == 200 and revealed.json()["value"] == VALUE
    assert revealed.json()["version"] == 1
    assert "does not exist in scope global" in problem(api.get(path), 404)
    engine = create_engine(api.settings.effective_database_url)
    with engine.connect() as conn:
        actions = [r[0] for r in conn.execute(text("SELECT action FROM audit_log"))]
    engine.dispose()
    assert "REVEAL secret" in actions


def test_rotate_and_delete(api: Api) -> None:
    put(api, "TOKEN", {"value": VALUE, "service": "web"})
    assert "name one secret or pass all" in problem(api.post(f"{BASE}/rotate", json={}), 400)
    one = api.post(f"{BASE}/rotate", json={"name": "TOKEN", "service": "web"}).json()
    assert one["results"][0]["version"] == 2 and not one["results"][0]["valueChanged"]
    assert problem(api.post(f"{BASE}/rotate", json={"name": "TOKEN"}), 404)
    gone = api.delete(f"{BASE}/secrets/TOKEN", params={"service": "web"})
    assert gone.json() == {"name": "TOKEN", "service": "web", "environment": None, "deleted": True}
    problem(api.delete(f"{BASE}/secrets/TOKEN", params={"service": "web"}), 404)
    member = api.token_for("user:default/admin", "member")
    problem(api.post(f"{BASE}/rotate-master-key", token=member), 403)
    assert api.post(f"{BASE}/rotate-master-key").json() == {"rewrapped": 0, "keyId": "k2"}


def test_a_wrong_master_key_refuses_to_start(api: Api) -> None:
    put(api, "TOKEN", {"value": VALUE})
    other = base64.b64encode(b"\x01" * 32).decode()
    wrong = api.settings.model_copy(
        update={"secrets": api.settings.secrets.model_copy(update={"master_key": f"k9:{other}"})}
    )
    with (
        pytest.raises(MasterKeyMissing, match="master key 'k1' is missing"),
        TestClient(create_app(wrong)),
    ):
        pass
