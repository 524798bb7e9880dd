"""Authentication, roles, tokens, audit and the first start, through the real app."""

from __future__ import annotations

import stat

import pytest
from apihelpers import Api, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from goldenpath.api.app import create_app

PROBLEM = "application/problem+json"


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    return body


def test_first_start_writes_a_private_admin_token_and_the_org_catalog(api: Api) -> None:
    token_file = api.settings.admin_token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert api.admin_token.startswith("gp_")
    me = api.get("/api/auth/whoami").json()
    assert me["user"] == "user:default/admin" and me["role"] == "admin"
    admin = api.get("/api/catalog/entities/by-name/user/default/admin").json()
    assert any(
        r["type"] == "memberOf" and r["targetRef"] == "group:default/platform-admins"
        for r in admin["relations"]
    )
    org = api.settings.home / "catalog" / "platform-org.yaml"
    assert org.is_file()
    locations = api.get("/api/catalog/locations").json()
    assert [loc["data"]["target"] for loc in locations] == [str(org)]


def test_the_database_never_holds_a_token(api: Api) -> None:
    created = api.post(
        "/api/auth/tokens", json={"owner": "user:default/admin", "role": "viewer", "name": "x"}
    ).json()
    engine = create_engine(api.settings.effective_database_url)
    with engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM auth_tokens")))
    engine.dispose()
    assert api.admin_token not in dump and created["token"] not in dump
    assert api.admin_token[3:] not in dump


def test_restart_reuses_the_data_directory_without_a_new_token(api: Api) -> None:
    before = api.admin_token
    with TestClient(create_app(api.settings)) as again:
        response = again.get("/api/auth/whoami", headers={"Authorization": f"Bearer {before}"})
    assert response.status_code == 200
    assert api.settings.admin_token_file.read_text().strip() == before


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer gp_wrong"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}],
)
@pytest.mark.parametrize(
    "path", ["/api/catalog/entities", "/api/auth/whoami", "/metrics", "/openapi.json"]
)
def test_everything_but_health_needs_a_token(api: Api, headers: dict[str, str], path: str) -> None:
    body = _problem(api.client.get(path, headers=headers), 401)
    assert "token" in str(body["detail"]).lower() or "credentials" in str(body["detail"])
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["status"] == "ready"


def test_viewer_reads_but_cannot_write(api: Api) -> None:
    viewer = api.token_for("user:default/admin", "viewer")
    assert api.get("/api/catalog/entities", token=viewer).status_code == 200
    body = _problem(api.post("/api/catalog/refresh", token=viewer, json={}), 403)
    assert "viewer" in str(body["detail"])


def test_member_cannot_manage_tokens(api: Api) -> None:
    member = api.token_for("user:default/admin", "member")
    _problem(api.get("/api/auth/tokens", token=member), 403)
    _problem(api.post("/api/auth/tokens", token=member, json={"owner": "admin", "name": "x"}), 403)


def test_tokens_are_listed_without_secrets_and_can_be_revoked(api: Api) -> None:
    token = api.token_for("user:default/admin", "member")
    listing = api.get("/api/auth/tokens").json()
    assert len(listing["items"]) == 2
    assert token not in str(listing) and api.admin_token not in str(listing)
    mine = next(t for t in listing["items"] if t["name"] == "member-token")
    assert mine["owner"] == "user:default/admin" and mine["role"] == "member"
    assert api.delete(f"/api/auth/tokens/{mine['id']}").status_code == 204
    _problem(api.get("/api/auth/whoami", token=token), 401)
    _problem(api.delete("/api/auth/tokens/nope"), 404)


def test_a_token_needs_an_existing_user_entity(api: Api) -> None:
    body = _problem(
        api.post("/api/auth/tokens", json={"owner": "user:default/ghost", "name": "x"}), 400
    )
    assert "ghost" in str(body["detail"])
    body = _problem(api.post("/api/auth/tokens", json={"owner": "admin"}), 400)
    assert any(e["path"] == "body.name" for e in body["errors"])  # type: ignore[attr-defined]


def test_every_mutating_request_is_audited(api: Api) -> None:
    viewer = api.token_for("user:default/admin", "viewer")
    api.post("/api/catalog/refresh", token=viewer, json={})
    api.client.post("/api/catalog/refresh", json={})
    api.delete("/api/auth/tokens/nope")
    api.get("/api/catalog/entities")  # reads are not audited
    items = api.get("/api/audit").json()["items"]
    rows = [(i["actor"], i["action"], i["target"], i["outcome"]) for i in items]
    assert rows == [
        ("user:default/admin", "DELETE /api/auth/tokens/{token_id}", "/api/auth/tokens/nope", 404),
        (None, "POST /api/catalog/refresh", "/api/catalog/refresh", 401),
        ("user:default/admin", "POST /api/catalog/refresh", "/api/catalog/refresh", 403),
        ("user:default/admin", "POST /api/auth/tokens", "/api/auth/tokens", 201),
    ]
    assert all(i["at"] for i in items)
    paged = api.get("/api/audit", params={"limit": 2}).json()
    assert len(paged["items"]) == 2
    rest = api.get("/api/audit", params={"before": paged["nextCursor"]}).json()["items"]
    assert [i["outcome"] for i in rest] == [403, 201]


def test_pg_backend_serves_the_same_app(pg_url: str, tmp_path: object) -> None:
    from pathlib import Path
    from uuid import uuid4

    from sqlalchemy.engine import make_url

    name = f"gp_api_{uuid4().hex[:8]}"
    admin = create_engine(
        make_url(pg_url).set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        settings = make_settings(Path(str(tmp_path)) / "home", database_url=url)
        with TestClient(create_app(settings)) as client:
            token = settings.admin_token_file.read_text().strip()
            who = client.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
            assert who.json()["user"] == "user:default/admin"
            assert client.get("/readyz").json()["status"] == "ready"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_viewers_may_use_read_only_posts_which_are_not_audited(api: Api) -> None:
    viewer = api.token_for("user:default/admin", "viewer")
    response = api.post(
        "/api/catalog/entities/by-refs",
        token=viewer,
        json={"entityRefs": ["user:default/admin"], "fields": ["metadata.name"]},
    )
    assert response.json() == {"items": [{"metadata": {"name": "admin"}}]}
    anonymous = api.client.post("/api/catalog/entities/by-refs", json={"entityRefs": []})
    assert anonymous.status_code == 401
    actions = [i["action"] for i in api.get("/api/audit").json()["items"]]
    assert actions == ["POST /api/auth/tokens"]


def test_first_start_survives_allowed_roots_that_exclude_the_data_directory(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    from pathlib import Path

    elsewhere = Path(str(tmp_path)) / "catalogs"
    elsewhere.mkdir()
    settings = make_settings(Path(str(tmp_path)) / "home", catalog={"allowed_roots": [elsewhere]})
    with TestClient(create_app(settings)) as client:
        token = settings.admin_token_file.read_text().strip()
        me = client.get("/api/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user"] == "user:default/admin"
    assert "allowed_roots" in caplog.text
