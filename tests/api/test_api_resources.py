"""The resources REST API on a real app and a real managed PostgreSQL: types, claims,
connection outputs (masked unless an admin reveals), backups, restore, delete; roles and
problem+json for bad input. One app per module (the cluster's cold start is paid once)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from apihelpers import PROBLEM, Api, make_settings
from fastapi.testclient import TestClient

from goldenpath.api.app import create_app
from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.drivers.local.postgres import ManagedPostgres
from goldenpath.drivers.local.supervisor import ProcessSupervisor

V1 = "/api/resources/v1"
PG_BIN = Path(os.environ.get("GOLDENPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))
pytestmark = pytest.mark.skipif(
    not (PG_BIN / "postgres").exists(), reason=f"PostgreSQL 15 binaries not in {PG_BIN}"
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on one data directory for the module; supervisord and the cluster are
    stopped and removed afterwards."""
    home = tmp_path_factory.mktemp("resapi") / "home"
    settings = make_settings(home, deploy={"reconcile_interval": 0}, resources={"pg_bin": PG_BIN})
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield Api(client, settings)
    finally:
        LocalDriver(settings).shutdown()
        ManagedPostgres(settings, ProcessSupervisor(settings.home)).destroy()


def name() -> str:
    return f"db-{uuid.uuid4().hex[:6]}"


def create(api: Api, token: str | None = None, **body: Any) -> Any:
    return api.post(f"{V1}/claims", token, json={"type": "postgres", **body})


def test_types_and_compositions_are_listed(api: Api) -> None:
    types = api.get(f"{V1}/types").json()
    postgres = next(t for t in types if t["name"] == "postgres")
    assert list(postgres["sizes"]) == ["small", "medium", "large"] and postgres["backups"]
    comps = {c["name"]: c for c in api.get(f"{V1}/compositions").json()}
    assert comps["local-postgres"]["environments"] == {"driver": "local", "names": None}


def test_claim_connect_and_masking_by_role(api: Api) -> None:
    db = name()
    created = create(api, name=db, size="medium", owner="group:default/team-a")
    assert created.status_code == 201, created.text
    claim = created.json()
    assert (claim["state"], claim["size"], claim["createdBy"]) == (
        "ready", "medium", "user:default/admin",
    )  # fmt: skip
    again = create(api, name=db, size="medium")
    assert again.status_code == 201 and again.json()["id"] == claim["id"]

    viewer = api.token_for("user:default/admin", "viewer")
    member = api.token_for("user:default/admin", "member")
    revealed = api.get(f"{V1}/claims/dev/{db}/connection", params={"reveal": "true"}).json()
    assert revealed["revealed"] is True
    secret = revealed["outputs"]["password"]
    assert secret not in created.text and secret not in again.text
    for token in (viewer, member):
        masked = api.get(
            f"{V1}/claims/dev/{db}/connection", token, params={"reveal": "true"}
        ).json()
        assert masked["revealed"] is False and secret not in str(masked)
        assert masked["outputs"]["password"] == "********"
    plain = api.get(f"{V1}/claims/dev/{db}/connection").json()
    assert plain["revealed"] is False and secret not in str(plain)
    audit = api.get("/api/audit", params={"limit": 50}).json()["items"]
    reveals = [a for a in audit if a["action"] == "REVEAL connection"]
    assert [a["target"] for a in reveals] == [f"{V1}/claims/dev/{db}/connection"]
    assert secret not in str(audit)
    with psycopg.connect(revealed["outputs"]["url"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    listed = api.get(f"{V1}/claims", viewer, params={"environment": "dev", "usage": "true"})
    row = next(c for c in listed.json() if c["name"] == db)
    assert row["usedBytes"] > 0 and row["storageQuotaMb"] == 10240
    denied = create(api, name=name(), token=viewer)
    assert denied.status_code == 403


def test_bad_claims_are_problems_that_list_the_valid_choices(api: Api) -> None:
    db = name()
    cases = [
        ({"name": db, "type": "mysql"}, 400, "valid types: postgres, redis"),
        ({"name": db, "type": "postgres", "size": "xl"}, 400, "valid sizes: small, medium, large"),
        ({"name": "Bad Name", "type": "postgres"}, 400, "not a resource name"),
        ({"name": db, "type": "postgres", "environment": "nowhere"}, 404, "known: dev"),
        ({"name": db, "type": "postgres", "sise": "small"}, 400, "sise"),
    ]
    for body, status, text in cases:
        response = api.post(f"{V1}/claims", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert text in response.text
    assert create(api, name=db).status_code == 201
    clash = create(api, name=db, size="large")
    assert clash.status_code == 409 and "exists as postgres/small" in clash.json()["detail"]
    assert api.get(f"{V1}/claims/dev/{name()}").status_code == 404


def test_backup_restore_and_delete_through_the_api(api: Api) -> None:
    db = name()
    assert create(api, name=db).status_code == 201
    url = api.get(f"{V1}/claims/dev/{db}/connection", params={"reveal": "true"}).json()
    with psycopg.connect(url["outputs"]["url"], autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1), (2), (3)")
    made = api.post(f"{V1}/claims/dev/{db}/backups")
    assert made.status_code == 201, made.text
    backup = made.json()
    assert api.get(f"{V1}/claims/dev/{db}/backups").json() == [backup]
    with psycopg.connect(url["outputs"]["url"], autocommit=True, connect_timeout=5) as conn:
        conn.execute("DELETE FROM t")
    done = api.post(f"{V1}/claims/dev/{db}/restore", json={"backup": backup["id"]})
    assert done.status_code == 200 and done.json()["restored"] == backup["id"]
    with psycopg.connect(url["outputs"]["url"], connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)
    missing = api.post(f"{V1}/claims/dev/{db}/restore", json={"backup": "nope"})
    assert missing.status_code == 404 and backup["id"] in missing.json()["detail"]

    deleted = api.delete(f"{V1}/claims/dev/{db}")
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["claim"]["state"] == "deleted" and body["finalBackup"]["reason"] == "final"
    assert api.get(f"{V1}/claims/dev/{db}").status_code == 404
    assert [b["reason"] for b in api.get(f"{V1}/claims/dev/{db}/backups").json()] == [
        "final", "manual",
    ]  # fmt: skip
