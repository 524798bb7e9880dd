"""`platform metrics|incident|scorecard|maturity|survey` end to end: the real CLI (Typer
runner, real HTTP) against one real server for the module (the app under uvicorn on a free
port, `GOLDENPATH_SERVER__URL` pointing at it) — import an outside deployment history, read
the DORA report (JSON numbers and the Rich table with its weekly trend), open/list/resolve
incidents, scorecards, maturity and the survey."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import cli_env

from goldenpath.api.app import create_app
from goldenpath.cli.main import app
from goldenpath.settings import Settings

CATALOG = Path(__file__).resolve().parents[1] / "api" / "data" / "catalog"
NOW = datetime.now(UTC).replace(microsecond=0)
SHA = "7abcdef0" * 5


def _at(days: float, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


EVENTS = [
    {
        "id": "gha-1",
        "service": "checkout",
        "environment": "production",
        "sha": SHA,
        "committedAt": _at(8, 6),
        "finishedAt": _at(8),
        "status": "success",
    },
    {
        "id": "gha-2",
        "service": "checkout",
        "environment": "production",
        "committedAt": _at(1, 2),
        "finishedAt": _at(1),
        "status": "success",
    },
    {
        "id": "gha-3",
        "service": "checkout",
        "environment": "production",
        "finishedAt": "yesterday",
        "status": "success",
    },
]


@contextmanager
def serving(home: Path) -> Iterator[tuple[str, str]]:
    """The real app under uvicorn on 127.0.0.1 (a free port) in a thread: ``(url, token)``;
    stopped (lifespan shutdown included) on exit."""
    settings = Settings(
        home=home, catalog={"refresh_interval": 0}, scaffolder={"builtin_templates": False}
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        token = settings.admin_token_file.read_text(encoding="utf-8").strip()
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``run(*args) -> (exit code, stdout, stderr)`` of the CLI against the module's server."""
    home = tmp_path_factory.mktemp("insights-cli") / "home"
    with serving(home) as (url, token):
        runner = CliRunner()
        env = cli_env(home, GOLDENPATH_SERVER__URL=url, GOLDENPATH_SERVER__TOKEN=token)

        def invoke(*args: str) -> tuple[int, str, str]:
            result = runner.invoke(app, list(args), env=env)
            return result.exit_code, result.stdout, result.stderr

        code, _, err = invoke("catalog", "import", str(CATALOG))
        assert code == 0, err
        yield invoke


def test_import_then_dora_report(run: Any, tmp_path: Path) -> None:
    events = tmp_path / "deployments.json"
    events.write_text(json.dumps(EVENTS))
    code, out, err = run("metrics", "import", str(events))
    assert code == 1  # one event is refused…
    assert "2 accepted, 0 duplicates" in out and "finishedAt" in out  # …naming its index/field

    code, out, err = run("metrics", "dora", "--service", "checkout", "-w", "30d", "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deploymentFrequency"]["count"] == 2
    assert report["leadTimeForChanges"]["medianSeconds"] == 4 * 3600  # median(6h, 2h)

    code, out, err = run("metrics", "dora", "--team", "group:default/team-a", "--window", "4w")
    assert code == 0, err
    assert "Deployment frequency" in out and "Lead time for changes" in out
    assert "4h median (2 changes)" in out and "Rework rate" in out
    assert any(bar in out for bar in "▁▂▃▄▅▆▇█")  # the weekly trend sparkline

    code, out, err = run("metrics", "dora", "--window", "ages")
    assert code == 1 and "window" in err and "90d" in err

    code, out, err = run("metrics", "platform", "-o", "json")
    assert code == 0 and "goldenPathAdoption" in json.loads(out), err


def test_incident_lifecycle(run: Any) -> None:
    code, out, err = run(
        "incident", "open", "checkout is down", "-s", "checkout", "-r", SHA[:10], "-o", "json"
    )
    assert code == 0, err
    incident = json.loads(out)
    assert incident["state"] == "open" and incident["severity"] == "sev2"

    code, out, err = run("incident", "ls", "--state", "open")
    assert code == 0 and "checkout is down" in out, err
    code, out, err = run("incident", "resolve", str(incident["id"]))
    assert code == 0 and "resolved" in out, err
    code, out, err = run("incident", "resolve", str(incident["id"]))
    assert code == 4 and "resolved" in err  # Conflict
    code, out, err = run("incident", "show", "424242")
    assert code == 3
    code, out, err = run("incident", "open", "x", "--severity", "sev9")
    assert code == 2 and "sev1" in err


def test_scorecard_maturity_and_survey(run: Any) -> None:
    code, out, err = run("scorecard", "checkout")
    assert code == 0, err
    assert "component:default/checkout" in out and ("pass" in out or "fail" in out)
    code, out, err = run("scorecard", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["summary"] and {r["entityRef"] for r in doc["results"]} >= {
        "component:default/checkout"
    }
    code, out, err = run("maturity")
    assert code == 0 and "Platform maturity: level" in out, err

    code, out, err = run("survey", "--score", "9", "-m", "quick deploys", "-o", "json")
    assert code == 0, err
    results = json.loads(out)
    assert results["responses"] == 1 and results["nps"] == 100.0
    code, out, err = run("survey", "--score", "11")
    assert code == 2
