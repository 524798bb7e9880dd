"""`platform server start|status|stop` as real processes on a temporary data directory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from cli_helpers import cli_env, run_platform

from goldenpath import processes as pids


def _status(home: Path) -> tuple[int, dict[str, object]]:
    result = run_platform(home, "server", "status", "-o", "json")
    return result.returncode, json.loads(result.stdout)


def test_start_is_idempotent_and_status_reports_the_server(home: Path) -> None:
    first = run_platform(home, "server", "start", "-o", "json")
    assert first.returncode == 0, first.stderr
    started = json.loads(first.stdout)
    assert started["running"] and started["healthy"] and not started["reused"]
    assert httpx.get(f"{started['url']}/healthz", timeout=5).status_code == 200

    again = json.loads(run_platform(home, "server", "start", "-o", "json").stdout)
    assert again["reused"] is True and again["pid"] == started["pid"]

    code, status = _status(home)
    assert code == 0
    assert status["pid"] == started["pid"] and status["url"] == started["url"]
    assert status["home"] == str(home)
    assert (home / "admin-token").stat().st_mode & 0o777 == 0o600
    table = run_platform(home, "server", "status")
    assert f"server running at {started['url']}" in table.stdout


def test_stop_all_leaves_no_process_behind(home: Path) -> None:
    started = json.loads(run_platform(home, "server", "start", "-o", "json").stdout)
    server = psutil.Process(int(started["pid"]))
    # A process a later feature (local runtime) would start and register for this home.
    workload = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
    )
    pids.register(home / "run", workload.pid, role="workload:demo")

    result = run_platform(home, "server", "stop", "--all", "-o", "json")
    assert result.returncode == 0, result.stderr
    stopped = {entry["pid"] for entry in json.loads(result.stdout)["stopped"]}
    assert stopped == {server.pid, workload.pid}
    assert workload.wait(timeout=10) is not None
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert not (home / "run" / "server.json").exists()
    assert pids.read_all(home / "run") == []

    code, status = _status(home)
    assert code == 6 and status["running"] is False
    assert "no server running" in run_platform(home, "server", "stop").stderr


def test_plain_stop_keeps_other_registered_processes(home: Path) -> None:
    run_platform(home, "server", "start")
    workload = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        pids.register(home / "run", workload.pid, role="workload:demo")
        assert run_platform(home, "server", "stop").returncode == 0
        assert workload.poll() is None
        assert [r.pid for r in pids.read_all(home / "run")] == [workload.pid]
    finally:
        workload.kill()
        workload.wait(timeout=10)


def test_stale_server_file_is_replaced_not_trusted(home: Path) -> None:
    run_dir = home / "run"
    run_dir.mkdir(parents=True)
    # A server.json naming a live PID that is not ours (this test process): never reused/killed.
    (run_dir / "server.json").write_text(
        json.dumps({"host": "127.0.0.1", "port": 1, "url": "http://127.0.0.1:1", "pid": 1}),
        encoding="utf-8",
    )
    code, status = _status(home)
    assert code == 6 and status["running"] is False
    started = json.loads(run_platform(home, "server", "start", "-o", "json").stdout)
    assert started["pid"] != 1 and started["healthy"]


def test_commands_auto_start_the_local_server(home: Path) -> None:
    result = run_platform(home, "catalog", "locations", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)
    code, status = _status(home)
    assert code == 0 and status["healthy"] is True


def test_unreachable_configured_server_exits_6(home: Path) -> None:
    result = run_platform(
        home,
        "catalog",
        "ls",
        GOLDENPATH_SERVER__URL="http://127.0.0.1:9",
        GOLDENPATH_SERVER__TOKEN="x",
    )
    assert result.returncode == 6
    assert "cannot reach the server" in result.stderr
    assert not (home / "run" / "server.json").exists()  # a configured URL never starts one


def test_concurrent_starts_share_one_server(home: Path) -> None:
    command = [sys.executable, "-m", "goldenpath.cli", "server", "start", "-o", "json"]
    racers = [
        subprocess.Popen(command, env=cli_env(home), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=120)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    started = [json.loads(text) for text in outputs]
    assert started[0]["pid"] == started[1]["pid"]
    assert sorted(s["reused"] for s in started) == [False, True]


def test_foreground_server_announces_itself_and_cleans_up(home: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "goldenpath.cli", "server", "--port", "0"],
        env=cli_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        status: dict[str, object] = {}
        while time.monotonic() < deadline and not status.get("healthy"):
            time.sleep(0.2)
            status = _status(home)[1]
        assert status.get("healthy") and status["pid"] == server.pid
        assert [r.pid for r in pids.read_all(home / "run")] == [server.pid]

        second = run_platform(home, "server", "run")
        assert second.returncode == 4 and "already runs" in second.stderr

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not (home / "run" / "server.json").exists()
        assert pids.read_all(home / "run") == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
