"""ResourceService on a real managed PostgreSQL: claims, outputs as secrets, idempotency,
conflicts, concurrency, the policy guard, workloads (Score ids), rotation, usage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest

from goldenpath.errors import Conflict, Forbidden, InvalidInput, NotFound
from goldenpath.resources import store
from goldenpath.resources.model import ClaimRequest
from goldenpath.resources.service import MASK
from goldenpath.secrets.service import SecretScope
from goldenpath.workloads.model import ResourceRequest

Unique = Callable[[str], str]


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, connect_timeout=5, autocommit=True)


def test_create_provisions_a_database_whose_outputs_are_secrets(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service()
    name = unique("orders")
    claim = svc.create(
        ClaimRequest(name=name, type="postgres", owner="group:team-a"), actor="alice"
    )
    assert (claim.state, claim.type, claim.size, claim.composition) == (
        "ready", "postgres", "small", "local-postgres",
    )  # fmt: skip
    prefix = name.upper().replace("-", "_")
    assert claim.outputs_ref == [
        f"{prefix}_{k}" for k in ("HOST", "PORT", "DATABASE", "USERNAME", "PASSWORD", "URL")
    ]
    metas = {m.name: m for m in svc.secrets.list(environment="dev")}
    assert metas[f"{prefix}_URL"].source == f"resource:{name}"
    assert metas[f"{prefix}_URL"].scope == SecretScope(environment="dev")

    revealed = svc.outputs(name, environment="dev", reveal=True)
    masked = svc.outputs(name, environment="dev", reveal=False)
    assert masked["password"] == MASK and revealed["password"] not in str(masked)
    assert masked["url"] == revealed["url"].replace(revealed["password"], MASK)
    assert (
        revealed["host"] == "127.0.0.1" and revealed["database"] == f"dev_{name.replace('-', '_')}"
    )
    with connect(revealed["url"]) as conn:
        conn.execute("CREATE TABLE orders (id int)")
        conn.execute("INSERT INTO orders VALUES (1)")
    wrong = revealed["url"].replace(revealed["password"], "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(wrong)

    fetched = svc.get(name, environment="dev")
    assert (
        fetched.storage_quota_mb == 1024 and fetched.used_bytes and fetched.used_bytes > 1_000_000
    )
    assert [c.name for c in svc.list(environment="dev")] == [name]
    assert svc.list(environment="staging") == []


def test_same_spec_is_idempotent_and_other_specs_or_unknowns_are_refused(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service()
    name = unique("cache")
    first = svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    password = svc.outputs(name, environment="dev", reveal=True)["password"]
    started = time.perf_counter()
    again = svc.create(ClaimRequest(name=name, type="postgres"), actor="bob")
    assert time.perf_counter() - started < 0.5
    assert (again.id, again.created_by) == (first.id, "alice")
    assert svc.outputs(name, environment="dev", reveal=True)["password"] == password

    with pytest.raises(Conflict, match=r"exists as postgres/small; you asked for postgres/large"):
        svc.create(ClaimRequest(name=name, type="postgres", size="large"), actor="bob")
    with pytest.raises(InvalidInput, match="valid types: postgres, redis"):
        svc.create(ClaimRequest(name=unique("x"), type="mysql"), actor="bob")
    with pytest.raises(InvalidInput, match="valid sizes: small, medium, large"):
        svc.create(ClaimRequest(name=unique("x"), type="postgres", size="xl"), actor="bob")
    with pytest.raises(InvalidInput, match="not a resource name"):
        svc.create(ClaimRequest(name="Bad_Name", type="postgres"), actor="bob")
    with pytest.raises(NotFound, match="does not exist in environment 'dev'"):
        svc.get(unique("missing"), environment="dev")


def test_concurrent_creates_of_one_name_make_one_resource(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    services = [make_service() for _ in range(2)]  # two servers on one store
    for svc in services[1:]:
        svc.secrets = services[0].secrets
    name = unique("race")
    results: list[Any] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def create(svc: Any) -> None:
        try:
            gate.wait(10)
            results.append(svc.create(ClaimRequest(name=name, type="postgres"), actor="ci"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=create, args=(services[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert {c.id for c in results} == {results[0].id} and {c.state for c in results} == {"ready"}
    assert len([c for c in services[0].list() if c.name == name]) == 1
    versions = services[0].secrets.versions(
        f"{name.upper().replace('-', '_')}_PASSWORD", scope=SecretScope(environment="dev")
    )
    assert len(versions) == 1  # provisioned once
    url = services[0].outputs(name, environment="dev", reveal=True)["url"]
    with connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_guard_sees_the_request_and_a_denial_changes_nothing(
    make_service: Callable[..., Any], unique: Unique, managed: Any
) -> None:
    seen: list[Mapping[str, Any]] = []

    def guard(request: Mapping[str, Any]) -> None:
        seen.append(request)
        if request["environment"]["production"]:
            raise Forbidden("policy resources.backups denies it: databases in production …")

    svc = make_service(guard=guard)
    name = unique("guarded")
    with pytest.raises(Forbidden, match="policy"):
        svc.create(
            ClaimRequest(name=name, type="postgres", environment="production", owner="group:a"),
            actor="alice",
        )
    assert seen == [
        {
            "action": "provision",
            "environment": {"name": "production", "production": True},
            "resource": {"name": name, "type": "postgres", "size": "small", "backups": True},
            "owner": {"ref": "group:a"},
            "actor": "alice",
        }
    ]
    assert store.find_claim(svc.engine, name, "production") is None
    with pytest.raises(NotFound):
        managed.postgres.database_size(f"production_{name.replace('-', '_')}")
    assert svc.secrets.list(environment="production") == []


def test_workloads_share_resources_by_score_id_and_keep_private_ones_apart(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service()
    shared = unique("shared")
    env = "staging"
    requests = [
        ResourceRequest(name="db", type="postgres", size="small"),
        ResourceRequest(name="events", type="postgres", params={"id": shared}),
    ]
    api = svc.ensure_for_workload("api", env, requests, owner="group:a", actor="deployer")
    worker = svc.ensure_for_workload("worker", env, requests, owner="group:a", actor="deployer")
    assert api["events"] == worker["events"]  # one shared resource
    assert api["db"]["database"] != worker["db"]["database"]  # private per workload
    assert set(api["db"]) == {"host", "port", "database", "username", "password", "url"}
    claims = {c.name: c for c in svc.list(environment=env)}
    assert claims[shared].consumers == ["api", "worker"]
    assert claims["api-db"].consumers == ["api"]
    again = svc.ensure_for_workload("api", env, requests, owner="group:a", actor="deployer")
    assert again == api  # idempotent at every deploy

    with pytest.raises(Conflict, match="used by api, worker"):
        svc.delete(shared, environment=env, actor="alice")
    assert svc.release_consumer("api", environment=env) == 2
    assert svc.release_consumer("worker", environment=env, name=shared) == 1
    assert svc.delete(shared, environment=env, actor="alice") is not None
    with pytest.raises(psycopg.OperationalError):
        connect(api["events"]["url"])


def test_rotating_the_password_secret_rotates_it_at_the_source(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service()
    name = unique("rot")
    svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    before = svc.outputs(name, environment="dev", reveal=True)
    prefix = name.upper().replace("-", "_")
    results = svc.secrets.rotate(
        f"{prefix}_PASSWORD", scope=SecretScope(environment="dev"), actor="alice"
    )
    assert {r.name for r in results} >= {f"{prefix}_PASSWORD", f"{prefix}_URL"}
    after = svc.outputs(name, environment="dev", reveal=True)
    assert after["password"] != before["password"]
    assert after["url"] == before["url"].replace(before["password"], after["password"])
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(before["url"])
    with connect(after["url"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (after["username"],)
    # --all rotates each claim once, not once per output secret
    svc.secrets.rotate(scope=SecretScope(environment="dev"), actor="alice", all=True)
    versions = svc.secrets.versions(f"{prefix}_PASSWORD", scope=SecretScope(environment="dev"))
    assert len(versions) == 3


def test_a_team_composition_changes_what_is_provisioned(
    make_service: Callable[..., Any], unique: Unique, tmp_path: Path
) -> None:
    override = (
        Path(__file__).parents[2] / "src/goldenpath/resources/compositions/local-postgres.yaml"
    ).read_text()
    override = override.replace("small: {connection_limit: 20,", "small: {connection_limit: 3,")
    (tmp_path / "compositions").mkdir()
    (tmp_path / "compositions" / "pg.yaml").write_text(override)
    svc = make_service()
    name = unique("tiny")
    claim = svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    assert store.resource_of(svc.engine, claim.id)["connection_limit"] == 3
    url = svc.outputs(name, environment="dev", reveal=True)["url"]
    conns = [connect(url) for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            connect(url)
    finally:
        for conn in conns:
            conn.close()


def test_kubernetes_environments_get_rendered_manifests_not_local_databases(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service(environments=lambda env: {"driver": "kubernetes", "production": False})
    name = unique("k8s")
    claim = svc.create(ClaimRequest(name=name, type="postgres", size="large"), actor="alice")
    assert claim.state == "provisioning" and "rendered 2 manifest" in claim.message
    kinds = [m["kind"] for m in svc.manifests(name, environment="dev")]
    assert kinds == ["Cluster", "ScheduledBackup"]
    with pytest.raises(Conflict, match="provisioning: no connection outputs yet"):
        svc.outputs(name, environment="dev", reveal=False)
    refs = svc.ensure_for_workload(
        "api", "dev", [ResourceRequest(name="db", type="postgres")], owner=None, actor="ci"
    )
    assert refs["db"]["host"] == "api-db-rw.dev.svc"  # CloudNativePG's read-write service
    assert refs["db"]["password"] == "secretKeyRef:api-db-app/password"
