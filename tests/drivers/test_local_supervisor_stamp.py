"""The stamp wrapper run directly: timestamps, exit status, signals, launch files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from goldenpath.drivers.local.logs import parse_line

STAMP = [sys.executable, "-m", "goldenpath.drivers.local.stamp"]


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Wrappers a test starts; killed with everything below them afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                family = psutil.Process(proc.pid).children(recursive=True)
                for member in family:
                    member.kill()
            proc.kill()
            proc.wait(5)


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STAMP, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_lines_are_stamped_merged_and_exit_status_passed_on() -> None:
    before = datetime.now(UTC)
    code = "import sys; print('out'); print('err', file=sys.stderr, flush=True); sys.exit(3)"
    result = run("--", sys.executable, "-c", code)
    assert result.returncode == 3 and result.stderr == ""
    parsed = [parse_line(line) for line in result.stdout.splitlines()]
    assert sorted(text for _, text in parsed) == ["err", "out"]
    for at, _ in parsed:
        assert at is not None and before <= at <= datetime.now(UTC)


def test_partial_last_line_is_written_and_missing_command_reported(tmp_path: Path) -> None:
    result = run("--", sys.executable, "-c", "print('no newline', end='')")
    assert result.returncode == 0
    assert parse_line(result.stdout.rstrip("\n"))[1] == "no newline"
    missing = run("--", str(tmp_path / "nope"))
    assert missing.returncode == 127
    assert "cannot run" in parse_line(missing.stdout.strip())[1]


def test_sigterm_reaches_the_command_group_once(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "hits = []\n"
        "def on_term(*_):\n"
        "    hits.append(1); time.sleep(0.3); print('terms', len(hits), flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "print('ready', child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen([*STAMP, "--", sys.executable, "-c", code], stdout=subprocess.PIPE)
    started.append(proc)
    assert proc.stdout is not None
    first = parse_line(proc.stdout.readline().decode().rstrip("\n"))[1]
    grandchild = int(first.split()[1])
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read().decode()
    assert proc.wait(10) == 0
    assert [parse_line(line)[1] for line in rest.splitlines()] == ["terms 1"]
    assert not psutil.pid_exists(grandchild) or (
        psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    )


def test_leftovers_are_killed_after_grace(started: list[subprocess.Popen[bytes]]) -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(0.5)\n"  # the child ignores SIGTERM by now
    )
    begin = time.monotonic()
    result = run("--grace", "0.5", "--", sys.executable, "-c", code)
    elapsed = time.monotonic() - begin
    leftover = int(parse_line(result.stdout.splitlines()[0])[1])
    assert result.returncode == 0 and 1.0 <= elapsed < 8
    assert not psutil.pid_exists(leftover)


def test_launch_file_gives_clean_env_cwd_and_counts_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launch = tmp_path / "app.launch"
    code = "import os; print(os.getcwd(), os.environ.get('SECRET'), 'LEAK' in os.environ)"
    launch.write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", code],
                "cwd": str(tmp_path),
                "env": {"SECRET": "s3cret"},
                "clean_env": True,
            }
        )
    )
    monkeypatch.setenv("LEAK", "platform-only")
    starts, exit_file = tmp_path / "app.starts", tmp_path / "app.exit"
    args = ["--launch-file", str(launch), "--count-starts", str(starts)]
    args += ["--exit-file", str(exit_file)]
    for _ in range(2):
        result = run(*args)
        assert parse_line(result.stdout.strip())[1] == f"{tmp_path} s3cret False"
    assert len(starts.read_text().split()) == 2
    assert exit_file.read_text().strip() == "0"
    assert os.stat(starts).st_mode & 0o077 == 0
