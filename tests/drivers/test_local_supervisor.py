"""ProcessSupervisor against a real supervisord: run, reach, crash, back off, replace, remove."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from goldenpath import processes
from goldenpath.drivers.local.logs import follow, read_lines, rotated_paths
from goldenpath.drivers.local.supervisor import ProcessSpec, ProcessSupervisor
from goldenpath.errors import InvalidInput

PY = sys.executable


def wait_for(check: Callable[[], Any], timeout: float = 15.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def home_processes(home: Path) -> list[psutil.Process]:
    """supervisord and stamp wrappers of ``home`` and everything below them."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(home) in arg for arg in proc.info.get("cmdline") or []):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                found.update({c.pid: c for c in proc.children(recursive=True)})
    found.pop(os.getpid(), None)
    return list(found.values())


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    try:
        yield path
    finally:
        with contextlib.suppress(Exception):
            ProcessSupervisor(path).shutdown()
        kill_all(home_processes(path))


@pytest.fixture
def sup(home: Path) -> ProcessSupervisor:
    return ProcessSupervisor(home, log_max_bytes=100_000, log_backups=2)


def spec(home: Path, name: str, command: tuple[str, ...], **kwargs: Any) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        command=command,
        cwd=home,
        env=kwargs.pop("env", {}),
        log_file=home / "logs" / f"{name}.log",
        **kwargs,
    )


def log_text(home: Path, name: str) -> str:
    return "\n".join(text for _, text in read_lines(rotated_paths(home / "logs" / f"{name}.log")))


def test_http_server_program_runs_reachable_and_logged(home: Path, sup: ProcessSupervisor) -> None:
    port = free_port()
    before = time.time()
    command = (PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    status = sup.apply(spec(home, "web", command, labels={"service": "web", "replica": "0"}))
    assert status.state in {"STARTING", "RUNNING"} and status.pid
    response = wait_for(lambda: _get(f"http://127.0.0.1:{port}/"))
    assert response.status_code == 200
    running = wait_for(lambda: (s := sup.status("web")) and s.state == "RUNNING" and s)
    assert running.pid == status.pid and running.restarts == 0 and running.exit_status is None
    assert running.labels == {"service": "web", "replica": "0"} and len(running.spec_hash) == 16
    assert running.started_at is not None and before - 1 <= running.started_at <= time.time()
    lines = wait_for(lambda: [x for x in read_lines([home / "logs/web.log"]) if "GET /" in x[1]])
    assert before - 1 <= lines[0][0].timestamp() <= time.time()
    assert [s.name for s in sup.list()] == ["web"] and sup.list("x") == []
    record = [r for r in processes.read_all(home / "run") if r.role == "supervisord"]
    assert [r.pid for r in record] == [sup.ensure_running()]


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None


def test_crashing_program_is_restarted_and_restarts_are_counted(
    home: Path, sup: ProcessSupervisor
) -> None:
    code = "import time; print('up', flush=True); time.sleep(0.3); raise SystemExit(3)"
    sup.apply(spec(home, "crashy", (PY, "-c", code), startsecs=0))
    status = wait_for(lambda: (s := sup.status("crashy")) and s.restarts >= 2 and s)
    assert status.state in {"STARTING", "RUNNING", "EXITED", "BACKOFF"}
    assert wait_for(lambda: log_text(home, "crashy").count("up") >= 3)


def test_program_that_exits_at_once_backs_off_then_is_fatal(
    home: Path, sup: ProcessSupervisor
) -> None:
    started = time.monotonic()
    sup.apply(spec(home, "dud", (PY, "-c", "raise SystemExit(3)"), startretries=2))
    seen: set[str] = set()

    def fatal() -> bool:
        status = sup.status("dud")
        assert status is not None
        seen.add(status.state)
        return status.state == "FATAL"

    wait_for(fatal, timeout=20)
    status = sup.status("dud")
    assert status is not None
    assert "BACKOFF" in seen
    assert status.restarts == 2 and status.exit_status == 3 and status.pid is None
    assert time.monotonic() - started >= 3  # supervisor waited 1 s, then 2 s


def test_logs_are_timestamped_and_rotate_at_max_bytes(home: Path) -> None:
    sup = ProcessSupervisor(home, log_max_bytes=2_000, log_backups=2)
    code = "import time\nfor i in range(300):\n print(f'line {i:04d} ' + 'x' * 40, flush=True)\n"
    code += " time.sleep(0.002)\ntime.sleep(60)"
    sup.apply(spec(home, "chatty", (PY, "-c", code)))
    log = home / "logs" / "chatty.log"
    wait_for(lambda: "line 0299" in log_text(home, "chatty"))
    files = rotated_paths(log)
    assert [p.name for p in files] == ["chatty.log.2", "chatty.log.1", "chatty.log"]
    assert all(p.stat().st_size < 2_000 + 1_000 for p in files)  # rotated per write
    lines = list(read_lines(files))
    numbers = [int(text.split()[1]) for _, text in lines]
    assert numbers == list(range(numbers[0], 300)) and numbers[0] > 0  # oldest rotated away
    stamps = [at for at, _ in lines]
    assert stamps == sorted(stamps)
    raw = log.read_text().splitlines()[0]
    assert raw[:4].isdigit() and raw[26:28] == "Z " and raw[10] == "T"


def test_follow_survives_real_rotation_without_losing_lines(home: Path) -> None:
    sup = ProcessSupervisor(home, log_max_bytes=4_000, log_backups=5)
    code = "import time\nfor i in range(400):\n print(f'n {i:04d} ' + 'y' * 30, flush=True)\n"
    code += " time.sleep(0.003)\ntime.sleep(60)"
    log = home / "logs" / "ticker.log"
    log.parent.mkdir(parents=True)
    lines = follow([log], poll_interval=0.02, idle_timeout=10)
    sup.apply(spec(home, "ticker", (PY, "-c", code)))
    numbers = []
    for _, _, text in lines:
        numbers.append(int(text.split()[1]))
        if numbers[-1] == 399:
            break
    lines.close()
    assert numbers == list(range(400))
    assert len(rotated_paths(log)) >= 4  # it did rotate, several times


def test_second_supervisor_adopts_running_supervisord_and_programs(
    home: Path, sup: ProcessSupervisor
) -> None:
    web = spec(home, "web", (PY, "-m", "http.server", str(free_port()), "--bind", "127.0.0.1"))
    first = sup.apply(web)
    daemon = sup.ensure_running()
    # the platform server restarts: a new process builds a new supervisor for the same home
    again = ProcessSupervisor(home, log_max_bytes=100_000, log_backups=2)
    assert again.ensure_running() == daemon
    assert again.apply(web).pid == first.pid
    adopted = again.status("web")
    assert adopted is not None and adopted.pid == first.pid
    daemons = [p for p in home_processes(home) if "supervisord" in " ".join(p.cmdline())]
    assert [p.pid for p in daemons] == [daemon]
    stamps = [p for p in home_processes(home) if "web.launch" in " ".join(p.cmdline())]
    assert len(stamps) == 1
    records = [r for r in processes.read_all(home / "run") if r.role == "supervisord"]
    assert [r.pid for r in records] == [daemon]


def test_concurrent_first_starts_make_one_supervisord(home: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from goldenpath.drivers.local.supervisor import ProcessSupervisor\n"
        "print(ProcessSupervisor(Path(sys.argv[1])).ensure_running())"
    )
    racers = [
        subprocess.Popen([PY, "-c", code, str(home)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    pids = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(pids) == 1
    daemons = [p for p in home_processes(home) if "supervisord" in " ".join(p.cmdline())]
    assert [str(p.pid) for p in daemons] == list(pids)


def test_programs_outlive_the_server_process_that_started_them(home: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from goldenpath.drivers.local.supervisor import ProcessSpec, ProcessSupervisor\n"
        "home = Path(sys.argv[1]); sup = ProcessSupervisor(home)\n"
        "st = sup.apply(ProcessSpec(name='kept', command=(sys.executable, '-c', "
        "'import time; time.sleep(60)'), cwd=home, env={}, log_file=home / 'kept.log'))\n"
        "print(sup.ensure_running(), st.pid)"
    )
    server = subprocess.run([PY, "-c", code, str(home)], capture_output=True, text=True, timeout=60)
    daemon, pid = (int(x) for x in server.stdout.split())
    assert alive(daemon) and alive(pid)  # the "server" has exited; both live on
    again = ProcessSupervisor(home)
    assert again.ensure_running() == daemon
    status = again.status("kept")
    assert status is not None and status.pid == pid and status.state in {"STARTING", "RUNNING"}


def test_killed_supervisord_is_replaced_without_duplicate_programs(
    home: Path, sup: ProcessSupervisor
) -> None:
    port = free_port()
    old = sup.apply(spec(home, "web", (PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")))
    wait_for(lambda: _get(f"http://127.0.0.1:{port}/"))
    old_daemon = sup.ensure_running()
    os.kill(old_daemon, signal.SIGKILL)  # its programs are orphaned, still running
    wait_for(lambda: not alive(old_daemon))
    assert old.pid is not None and alive(old.pid)
    fresh = ProcessSupervisor(home)
    new_daemon = fresh.ensure_running()
    assert new_daemon != old_daemon
    assert (home / "run/supervisor/supervisord.pid").read_text().strip() == str(new_daemon)
    records = [r.pid for r in processes.read_all(home / "run") if r.role == "supervisord"]
    assert records == [new_daemon]  # the dead one's record is gone
    assert not alive(old.pid)  # the orphan was stopped before the program started again
    status = wait_for(lambda: (s := fresh.status("web")) and s.state == "RUNNING" and s)
    assert status.pid != old.pid
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/")).status_code == 200
    stamps = [p for p in home_processes(home) if "web.launch" in " ".join(p.cmdline())]
    assert len(stamps) == 1


GRANDCHILD = """
import subprocess, sys, time, signal
if len(sys.argv) > 1:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\\n"
    "if len(sys.argv) > 1: signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "time.sleep(300)", *sys.argv[1:]])
print("grandchild", child.pid, flush=True)
time.sleep(300)
"""


def _grandchild_pid(home: Path, name: str) -> int:
    lines = wait_for(lambda: [t for _, t in read_lines([home / f"logs/{name}.log"])])
    return int(lines[0].split()[1])


def test_remove_stops_the_whole_process_group(home: Path, sup: ProcessSupervisor) -> None:
    status = sup.apply(spec(home, "tree", (PY, "-c", GRANDCHILD)))
    grandchild = _grandchild_pid(home, "tree")
    assert status.pid is not None and alive(grandchild)
    child = psutil.Process(status.pid).children()[0].pid
    started = time.monotonic()
    sup.remove("tree")
    assert time.monotonic() - started < 5
    assert not alive(status.pid) and not alive(child) and not alive(grandchild)
    assert sup.status("tree") is None and sup.list() == []
    assert not list((home / "run/supervisor/programs").iterdir())
    sup.remove("tree")  # unknown now: no-op


def test_remove_kills_a_group_ignoring_sigterm_after_stop_timeout(
    home: Path, sup: ProcessSupervisor
) -> None:
    status = sup.apply(spec(home, "stubborn", (PY, "-c", GRANDCHILD, "ignore"), stop_timeout=1))
    grandchild = _grandchild_pid(home, "stubborn")
    started = time.monotonic()
    sup.remove("stubborn")
    assert 0.9 <= time.monotonic() - started < 6
    assert status.pid is not None and not alive(status.pid) and not alive(grandchild)


def test_secrets_stay_out_of_supervisor_files_and_ps(
    home: Path, sup: ProcessSupervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hunter2-%(here)s-;#-" + os.urandom(6).hex()
    monkeypatch.setenv("GOLDENPATH_SERVER_ONLY", "server-secret")
    code = (
        "import os, hashlib; print('sha', hashlib.sha256(os.environ['DB_PASSWORD'].encode())"
        ".hexdigest(), 'leak' if 'GOLDENPATH_SERVER_ONLY' in os.environ else 'clean', flush=True)"
        "\nimport time; time.sleep(60)"
    )
    status = sup.apply(spec(home, "app", (PY, "-c", code), env={"DB_PASSWORD": secret}))
    import hashlib

    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert wait_for(lambda: f"sha {digest} clean" in log_text(home, "app"))
    folder = home / "run" / "supervisor"
    launch = folder / "programs" / "app.launch"
    assert launch.stat().st_mode & 0o077 == 0
    for path in folder.rglob("*"):
        if path.is_file() and path != launch:
            assert secret not in path.read_text(errors="replace"), path
    for proc in home_processes(home):
        with contextlib.suppress(psutil.Error):
            assert secret not in " ".join(proc.cmdline())
    assert status.pid is not None
    assert "DB_PASSWORD" not in psutil.Process(status.pid).environ()


def test_apply_same_spec_is_noop_and_changed_spec_replaces(
    home: Path, sup: ProcessSupervisor
) -> None:
    code = "import os, time; print('v', os.environ['V'], flush=True); time.sleep(60)"
    first = sup.apply(spec(home, "app", (PY, "-c", code), env={"V": "1"}))
    running = wait_for(lambda: (s := sup.status("app")) and s.state == "RUNNING" and s)
    same = sup.apply(spec(home, "app", (PY, "-c", code), env={"V": "1"}))
    assert same.pid == first.pid == running.pid and same.spec_hash == first.spec_hash
    relabelled = sup.apply(spec(home, "app", (PY, "-c", code), env={"V": "1"}, labels={"a": "b"}))
    assert relabelled.pid == first.pid and relabelled.labels == {"a": "b"}
    changed = sup.apply(spec(home, "app", (PY, "-c", code), env={"V": "2"}))
    assert changed.pid != first.pid and changed.spec_hash != first.spec_hash
    assert first.pid is not None and not alive(first.pid)
    assert changed.restarts == 0 and changed.labels == {}
    assert wait_for(lambda: "v 2" in log_text(home, "app"))
    restarted = sup.restart("app")
    assert restarted.pid != changed.pid and restarted.restarts == 1


def test_arguments_pass_through_verbatim(home: Path, sup: ProcessSupervisor) -> None:
    args = ("50% ;off #not-a-comment", "'quoted' \"twice\"", "%(here)s", "")
    sup.apply(spec(home, "echo", (PY, "-c", "import sys; print(sys.argv[1:])", *args)))
    assert wait_for(lambda: str(list(args)) in log_text(home, "echo"))


def test_shutdown_stops_programs_and_supervisord(home: Path, sup: ProcessSupervisor) -> None:
    sleep = (PY, "-c", "import time; time.sleep(60)")
    status = sup.apply(spec(home, "sleeper", sleep))
    others = [sup.apply(spec(home, f"other{i}", sleep)) for i in range(13)]
    wait_for(lambda: all(s.state == "RUNNING" for s in sup.list()))
    daemon = sup.ensure_running()
    started = time.monotonic()
    sup.shutdown()
    assert time.monotonic() - started < 6  # all stopped at once, not one per supervisord tick
    assert not alive(daemon) and status.pid is not None and not alive(status.pid)
    assert not any(alive(o.pid) for o in others if o.pid)
    assert not [r for r in processes.read_all(home / "run") if r.role == "supervisord"]
    stopped = sup.status("sleeper")
    assert stopped is not None and stopped.state == "STOPPED" and stopped.pid is None
    # started again, the configured program comes back
    assert sup.ensure_running() != daemon
    assert wait_for(lambda: (s := sup.status("sleeper")) and s.state == "RUNNING")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "must match"),
        ({"cwd": Path("relative")}, "absolute"),
        ({"command": ()}, "non-empty"),
        ({"env": {"A=B": "x"}}, "invalid name"),
        ({"stop_timeout": 0}, "stop_timeout"),
    ],
)
def test_invalid_specs_are_rejected(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    sup = ProcessSupervisor(tmp_path)
    fields: dict[str, Any] = {
        "name": "ok",
        "command": ("true",),
        "cwd": tmp_path,
        "env": {},
        "log_file": tmp_path / "ok.log",
    }
    with pytest.raises(InvalidInput, match=message):
        sup.apply(ProcessSpec(**{**fields, **change}))
    assert not (tmp_path / "run" / "supervisor" / "supervisord.pid").exists()


def test_long_home_uses_a_short_socket_path(tmp_path: Path) -> None:
    home = tmp_path / ("d" * 90)
    sup = ProcessSupervisor(home)
    assert len(os.fsencode(sup.socket_path)) <= 100
    assert sup.socket_path.parent != sup.directory
    assert ProcessSupervisor(home).socket_path == sup.socket_path
    try:
        daemon = sup.ensure_running()
        assert sup.socket_path.exists() and ProcessSupervisor(home).ensure_running() == daemon
    finally:
        sup.shutdown()
        kill_all(home_processes(home))
    assert not sup.socket_path.exists()
