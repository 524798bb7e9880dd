"""A real rollout through the deploy API: a stdlib HTTP service from a git repository, built
with uv, run by supervisord, routed by HAProxy — deploy, follow (SSE), status, logs, a canary
paused and promoted, a rollback, history paging. Skips when the runtime's tools are missing;
every process started is stopped by the driver's ``shutdown()`` at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apihelpers import Api, make_settings
from deployhelpers import V1, commit_version, make_repo, parse_sse, require_runtime
from fastapi.testclient import TestClient

from goldenpath.api.app import create_app
from goldenpath.api.routes import _deploy_streams
from goldenpath.drivers.local.driver import LocalDriver


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Api]:
    """The app with the reconciler running every 0.2 s; the runtime shut down afterwards."""
    settings = make_settings(tmp_path / "home", deploy={"reconcile_interval": 0.2})
    require_runtime(settings.runtime.haproxy)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield Api(client, settings)
    finally:
        LocalDriver(settings).shutdown()


def _follow(api: Api, deployment_id: int, after: int | None = None) -> list[tuple[str, Any, Any]]:
    params = {"after": after} if after is not None else None
    for _ in range(10):  # a stream lasts MAX_STREAM_SECONDS; resume until the end event
        response = api.get(f"{V1}/deployments/{deployment_id}/eventstream", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.text)
        if events and events[-1][0] == "end":
            return events
        ids = [int(i) for _, i, _ in events if i is not None]
        params = {"after": max(ids)} if ids else params
    raise AssertionError(f"deployment {deployment_id} did not finish")


def _deploy(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"{V1}/deployments", json=body)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{V1}/deployments/{created['id']}"
    return created


def _status(api: Api) -> dict[str, Any]:
    response = api.get(f"{V1}/services/hello/status", params={"environment": "dev"})
    assert response.status_code == 200, response.text
    (item,) = response.json()
    return dict(item)


def _answer(url: str) -> str:
    return httpx.get(url, timeout=5).text.strip()


def test_deploy_canary_promote_rollback_through_the_api(
    live: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "svc")
    body = {"environment": "dev", "repo": str(repo), "ref": "main", "specPath": "platform.yaml"}
    first = _deploy(live, body)
    assert first["state"] == "pending" and first["strategy"] == "rolling"
    busy = live.post(f"{V1}/deployments", json=body)
    assert busy.status_code == 409 and str(first["id"]) in busy.json()["detail"]

    events = _follow(live, first["id"])
    states = [data["to"] for event, _, data in events if event == "transition"]
    assert states[0] == "pending" and states[-1] == "succeeded", events[-1]
    assert {"building", "progressing"} <= set(states)
    assert events[-1][2]["state"] == "succeeded" and events[-1][2]["sha"]

    status = _status(live)
    (version,) = status["versions"]
    assert version["version"] == f"d{first['id']}" and version["ready"] == version["desired"] == 1
    assert _answer(status["urls"]["direct"]) == "hello v1"
    logs = live.get(f"{V1}/services/hello/environments/dev/logs", params={"since": "1h"})
    assert any("listening v1" in line["text"] for line in logs.json()), logs.text

    commit_version(repo, "v2")
    second = _deploy(live, {**body, "canary": "20%"})
    assert second["strategy"] == "canary"
    paused = _follow(live, second["id"])[-1][2]
    assert paused["state"] == "paused", paused
    weights = _status(live)["weights"]
    assert weights == {f"d{first['id']}": 80, f"d{second['id']}": 20}

    promoted = live.post(
        f"{V1}/services/hello/environments/dev/promote", json={"full": True}
    ).json()
    seen = len(promoted["transitions"])
    assert _follow(live, second["id"], after=seen)[-1][2]["state"] == "succeeded"
    assert _answer(_status(live)["urls"]["direct"]) == "hello v2"
    assert live.post(f"{V1}/services/hello/environments/dev/promote").status_code == 409

    back = live.post(f"{V1}/services/hello/environments/dev/rollback", json={})
    assert back.status_code == 202, back.text
    rollback = back.json()
    assert rollback["kind"] == "rollback" and rollback["rollbackOf"] == first["id"]
    assert _follow(live, rollback["id"])[-1][2]["state"] == "succeeded"
    assert _answer(_status(live)["urls"]["direct"]) == "hello v1"

    history = live.get(f"{V1}/deployments", params={"service": "hello"}).json()
    assert [d["id"] for d in history] == [rollback["id"], second["id"], first["id"]]
    page = live.get(f"{V1}/deployments", params={"before": rollback["id"], "limit": 1}).json()
    assert [d["id"] for d in page] == [second["id"]]

    monkeypatch.setattr(_deploy_streams, "MAX_STREAM_SECONDS", 1.5)
    followed = live.client.get(
        f"{V1}/services/hello/environments/dev/logs",
        params={"follow": "true", "since": "1h"},
        headers={**live.headers(), "Accept": "application/x-ndjson"},
    )
    assert followed.headers["content-type"].startswith("application/x-ndjson")
    assert "listening v2" in followed.text and followed.text.endswith("\n")
