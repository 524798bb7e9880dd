"""Operations surface: problem+json mapping, readiness, metrics, OpenAPI, and ``serve.run``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apihelpers import Api, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from goldenpath.api.app import create_app
from goldenpath.api.ids import last_event_id
from goldenpath.store import migrate

PROBLEM = "application/problem+json"


def test_unknown_route_is_a_404_problem(api: Api) -> None:
    response = api.get("/api/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["instance"] == "/api/nope" and body["type"].endswith("not_found")


def test_bad_query_parameters_are_a_400_problem_naming_the_field(api: Api) -> None:
    response = api.get("/api/catalog/entities/by-query", params={"limit": "many"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert [e["path"] for e in response.json()["errors"]] == ["query.limit"]


def test_unexpected_errors_are_a_500_problem_without_internals(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "home"))

    def boom() -> None:
        raise RuntimeError("secret internals /etc/shadow")

    app.add_api_route("/boom", boom, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/boom")
        token = app.state.services.settings.admin_token_file.read_text().strip()
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert 'goldenpath_http_requests_total{method="POST",route="/boom",status="500"} 1.0' in metrics


LONE = "a\\ud800b"  # JSON text of a string holding a lone UTF-16 surrogate


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/resources/v1/claims",
            '{"name": "db1", "type": "postgres", "environment": "dev", "params": {"x": "%s"}}',
            "body.params.x",
        ),
        ("/api/secrets/v1/secrets", '{"values": {"K": "%s"}, "service": "svc"}', "body.values.K"),
        (
            "/api/policy/v1/evaluate",
            '{"action": "scaffold", "input": {"parameters": {"tags": ["ok", "%s"]}}}',
            "body.input.parameters.tags.1",
        ),
    ],
)
def test_a_json_body_holding_a_lone_surrogate_is_a_400_naming_the_field_and_changes_nothing(
    api: Api, path: str, body: str, field: str
) -> None:
    """Before, these were 500s deep inside the request (the claim was stored first)."""
    headers = {**api.headers(), "content-type": "application/json"}
    response = api.client.post(path, content=(body % LONE).encode(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["path"] for e in response.json()["errors"]] == [field]
    assert api.get("/api/resources/v1/claims").json() == []
    assert api.get("/api/secrets/v1/secrets").json() == []
    # a surrogate pair is valid text (U+1F600) and goes through
    fine = api.client.post(
        "/api/policy/v1/evaluate",
        content=b'{"action": "scaffold", "input": {"parameters": {"d": "\\ud83d\\ude00"}}}',
        headers=headers,
    )
    assert fine.status_code == 200, fine.text


HUGE = str(2**63)  # one past what a 64-bit id column holds


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/insights/v1/incidents/{HUGE}", "path.incident_id"),
        (f"/api/deploy/v1/deployments/{HUGE}", "path.deployment_id"),
        (f"/api/deploy/v1/deployments?before={HUGE}", "query.before"),
        (f"/api/scaffolder/v2/tasks/t-1/events?after={HUGE}", "query.after"),
        (f"/api/policy/v1/decisions?before={HUGE}", "query.before"),
        (f"/api/audit?before={HUGE}", "query.before"),
    ],
)
def test_an_id_beyond_64_bits_is_a_400_naming_the_parameter(
    api: Api, path: str, field: str
) -> None:
    """Found by fuzzing the OpenAPI schema (schemathesis): the drivers raised OverflowError."""
    response = api.get(path)
    assert response.status_code == 400, response.text
    assert [e["path"] for e in response.json()["errors"]] == [field]


def test_a_last_event_id_beyond_64_bits_is_ignored() -> None:
    assert last_event_id(HUGE) is None and last_event_id("-1") is None
    assert last_event_id("41") == 41 and last_event_id("x") is None and last_event_id(None) is None


@pytest.mark.parametrize(
    ("content_type", "path", "chunked"),
    [
        ("application/json", "/api/policy/v1/evaluate", False),
        ("application/json", "/api/policy/v1/evaluate", True),
        ("text/plain", "/api/insights/v1/alertmanager", True),
    ],
)
def test_a_body_over_the_limit_is_a_413_problem(
    tmp_path: Path, content_type: str, path: str, chunked: bool
) -> None:
    """Bodies are read into memory: without a bound one request could exhaust it. Declared
    (Content-Length) or streamed (chunked), JSON or not, the answer is the same problem."""
    settings = make_settings(tmp_path / "home", server={"max_body_bytes": 1024 * 1024})

    def pieces() -> Iterator[bytes]:
        yield from (b"a" * 65536 for _ in range(20))

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client, settings)
        headers = {**api.headers(), "content-type": content_type}
        body = pieces() if chunked else b"a" * (1024 * 1024 + 1)
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "1,048,576 bytes" in response.json()["detail"]


def test_one_request_sets_at_most_a_thousand_secrets(api: Api) -> None:
    """20,000 values in one request took 12 s in one transaction."""
    values = {f"KEY_{i}": "v" for i in range(1001)}
    response = api.post("/api/secrets/v1/secrets", json={"values": values})
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["body.values"]
    assert api.get("/api/secrets/v1/secrets").json() == []


def test_readyz_reports_a_database_behind_head(api: Api) -> None:
    assert api.client.get("/readyz").status_code == 200
    engine = create_engine(api.settings.effective_database_url)
    migrate.downgrade(engine, "0001_catalog")
    engine.dispose()
    response = api.client.get("/readyz")
    assert response.status_code == 503
    assert "0001_catalog" in response.json()["detail"]


def test_metrics_count_requests_by_route_template_and_entities_by_kind(catalog_api: Api) -> None:
    api = catalog_api
    for name in ("checkout", "payments", "nope"):
        api.get(f"/api/catalog/entities/by-name/component/default/{name}")
    text = api.get("/metrics").text
    route = "/api/catalog/entities/by-name/{kind}/{namespace}/{name}"
    total = "goldenpath_http_requests_total"
    assert f'{total}{{method="GET",route="{route}",status="200"}} 2.0' in text
    assert f'{total}{{method="GET",route="{route}",status="404"}} 1.0' in text
    bucket = f'le="+Inf",method="GET",route="{route}",status="200"'
    assert f"goldenpath_http_request_duration_seconds_bucket{{{bucket}}} 2.0" in text
    assert 'goldenpath_catalog_entities{kind="Component"} 5.0' in text
    assert "/api/catalog/entities/by-name/component/default/checkout" not in text


def test_openapi_lists_the_backstage_paths(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/catalog/entities",
        "/api/catalog/entities/by-query",
        "/api/catalog/entities/by-refs",
        "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
        "/api/catalog/entities/by-name/{kind}/{namespace}/{name}/ancestry",
        "/api/catalog/entities/by-uid/{uid}",
        "/api/catalog/entity-facets",
        "/api/catalog/locations",
        "/api/catalog/locations/{location_id}",
        "/api/catalog/refresh",
        "/api/catalog/validate-entity",
        "/api/catalog/errors",
        "/api/auth/tokens",
        "/api/auth/whoami",
        "/api/audit",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    # what /metrics answers is what the document says it answers (schemathesis' check)
    metrics_type = api.get("/metrics").headers["content-type"].split(";")[0]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == [metrics_type]


def test_serve_run_binds_a_free_port_and_announces_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "GOLDENPATH_HOME": str(home),
        "GOLDENPATH_SERVER__PORT": "0",
        "GOLDENPATH_CATALOG__REFRESH_INTERVAL": "0",
    }
    code = "from goldenpath.api.serve import run; from goldenpath.settings import load_settings; run(load_settings())"  # noqa: E501
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    server_json = home / "run" / "server.json"
    try:
        deadline = time.monotonic() + 120
        while not server_json.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server.json never appeared"
            time.sleep(0.1)
        info = json.loads(server_json.read_text())
        assert info["pid"] == proc.pid and info["port"] > 0
        assert info["url"] == f"http://127.0.0.1:{info['port']}"
        assert httpx.get(f"{info['url']}/healthz", timeout=5).json() == {"status": "ok"}
        with socket.create_connection(("127.0.0.1", info["port"]), timeout=5):
            pass
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not server_json.exists()


def test_lifespan_runs_the_refresh_loop_and_stops_it(tmp_path: Path) -> None:
    import threading

    settings = make_settings(tmp_path / "home")
    settings.catalog.refresh_interval = 0.2
    with TestClient(create_app(settings)) as client:
        token = settings.admin_token_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        org = settings.home / "catalog" / "platform-org.yaml"
        org.write_text(
            org.read_text() + "---\napiVersion: backstage.io/v1alpha1\nkind: User\n"
            "metadata: {name: newcomer}\nspec: {memberOf: [platform-admins]}\n"
        )
        path = "/api/catalog/entities/by-name/user/default/newcomer"
        deadline = time.monotonic() + 20
        while client.get(path, headers=headers).status_code != 200:
            assert time.monotonic() < deadline, "the refresh loop never picked up the edit"
            time.sleep(0.1)
        assert any(t.name == "catalog-refresher" for t in threading.enumerate())
    assert not any(t.name == "catalog-refresher" for t in threading.enumerate())
