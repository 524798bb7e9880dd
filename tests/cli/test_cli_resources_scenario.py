"""Issue 5 end to end, through the real CLI against a real server (managed PostgreSQL,
uv builds, supervisord, HAProxy):

1. ``platform create service shop --db postgres --deploy dev``: the python-service golden path
   with its database; the deploy provisions ``shop-db`` in the managed cluster and injects
   ``DATABASE_URL``; a user secret goes in through stdin.
2. Rows written through the service survive a redeploy (a new commit) and a rollback.
3. ``platform secrets rotate --all --env dev`` rotates the database password at the source
   (``ALTER ROLE``) and redeploys the service: it keeps serving its rows with the new
   password, and the old password stops working.
4. A deploy that fails (a command that exits at once) leaves the service serving.
5. Neither the user secret nor either database password appears in any CLI output, response,
   log, task log, deployment record or file under the data directory — except the 0600
   launch files that hand a replica its environment, and the encrypted store, whose rows
   must not hold them in clear text either.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from cli_helpers import cli_env
from test_cli_deploy_server import home as home  # the fixture

pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/postgresql/15/bin/initdb").exists(), reason="needs postgresql-15"
)

OUTPUTS: list[str] = []


def _cli(
    home: Path, cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, GOLDENPATH_DEPLOY__RECONCILE_INTERVAL="0.2")
    done = subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    OUTPUTS.append(done.stdout + done.stderr)
    return done


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "PATH": "/usr/bin:/bin",
            "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
        },
    )


def _items(url: str) -> list[str]:
    response = httpx.get(f"{url}/items", timeout=10)
    OUTPUTS.append(response.text)
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json())


def _wait_redeploy(home: Path, cwd: Path, deployment_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        history = json.loads(_ok(_cli(home, cwd, "deploy", "history", "shop", "-o", "json")))
        found = next(d for d in history if d["id"] == deployment_id)
        if found["state"] in ("succeeded", "failed", "aborted"):
            return found
        time.sleep(0.5)
    raise AssertionError(f"redeployment {deployment_id} did not finish")


def _db_url(home: Path, cwd: Path) -> str:
    return _ok(_cli(home, cwd, "db", "connect", "shop-db", "--env", "dev", "--print-url")).strip()


def test_database_rows_survive_redeploy_rollback_and_rotation_and_no_secret_leaks(
    home: Path, tmp_path: Path
) -> None:
    OUTPUTS.clear()
    created = json.loads(
        _ok(
            _cli(
                home,
                tmp_path,
                "create",
                "service",
                "shop",
                "--db",
                "postgres",
                "--deploy",
                "dev",
                "-o",
                "json",
            )
        )
    )
    clone = Path(created["directory"])
    (status,) = json.loads(
        _ok(_cli(home, tmp_path, "status", "shop", "--env", "dev", "-o", "json"))
    )
    url = status["urls"]["direct"]
    api_key = "sk-" + secrets.token_hex(16)
    _ok(
        _cli(
            home,
            tmp_path,
            "secrets",
            "set",
            "API_KEY",
            "--stdin",
            "--service",
            "shop",
            "--env",
            "dev",
            stdin=api_key,
        )
    )

    for name in ("apple", "pear"):
        posted = httpx.post(f"{url}/items", json={"name": name}, timeout=10)
        assert posted.status_code == 201, posted.text
    first_password = _db_url(home, tmp_path).split("@")[0].rsplit(":", 1)[1]

    # redeploy a new commit: the rows are in PostgreSQL, not in the process
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nA change.\n")
    _git(clone, "commit", "-qam", "a change")
    _ok(_cli(home, clone, "deploy", "--env", "dev"))
    assert _items(url) == ["apple", "pear"]
    _ok(_cli(home, clone, "deploy", "rollback", "--env", "dev"))
    assert _items(url) == ["apple", "pear"]

    # rotation at the source, then a redeploy with the new credentials
    rotated = json.loads(
        _ok(_cli(home, tmp_path, "secrets", "rotate", "--all", "--env", "dev", "-o", "json"))
    )
    assert any(r["valueChanged"] for r in rotated["results"])
    (redeploy,) = rotated["redeployments"]
    assert redeploy["service"] == "shop"
    assert _wait_redeploy(home, tmp_path, redeploy["id"])["state"] == "succeeded"
    assert _items(url) == ["apple", "pear"]
    new_url = _db_url(home, tmp_path)
    new_password = new_url.split("@")[0].rsplit(":", 1)[1]
    assert new_password != first_password
    with psycopg.connect(new_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(new_url.replace(new_password, first_password), connect_timeout=5)

    # a failing deploy leaves the service serving
    spec = clone / "platform.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  runtime:", "  run:\n    command: [python, -c, 'raise SystemExit(3)']\n  runtime:"
        )
    )
    _git(clone, "commit", "-qam", "broken")
    assert _cli(home, clone, "deploy", "--env", "dev").returncode != 0
    assert _items(url) == ["apple", "pear"]

    # nothing leaks: outputs, task logs, deployment records, logs and files
    listed = json.loads(_ok(_cli(home, tmp_path, "task", "ls", "-o", "json")))
    tasks = listed["tasks"] if isinstance(listed, dict) else listed
    assert tasks
    for task in tasks:
        _cli(home, tmp_path, "task", "logs", str(task["id"]), "-o", "json")
    _cli(home, tmp_path, "deploy", "history", "shop", "-o", "json")
    _cli(home, tmp_path, "logs", "shop", "--env", "dev")
    _cli(home, tmp_path, "secrets", "list", "-o", "json")
    _cli(home, tmp_path, "db", "ls", "-o", "json")
    values = {
        "API_KEY": api_key,
        "first db password": first_password,
        "new db password": new_password,
    }
    reveal_outputs = {
        i for i, text in enumerate(OUTPUTS) if "postgresql://" in text and "@127.0.0.1" in text
    }
    for label, value in values.items():
        for i, text in enumerate(OUTPUTS):
            if i not in reveal_outputs:
                assert value not in text, (
                    f"{label} leaked in CLI output or a response: {text[:300]}"
                )
        for path in home.rglob("*"):
            if not path.is_file() or path.name.endswith(".launch"):
                continue
            data = path.read_bytes()
            assert value.encode() not in data, f"{label} found in {path}"
