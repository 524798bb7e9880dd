"""The registry of processes the platform started for one data directory.

One JSON file per process under ``<home>/run/pids/<pid>.json``::

    {"pid": 4242, "role": "server", "create_time": 1732245600.12,
     "cmdline": ["/…/python", "-m", "goldenpath.cli", "server"], "registered_at": 1732245600.5}

``started`` is the kernel's process start time in seconds after boot (:func:`started_after_boot`)
and ``create_time`` the same instant in seconds since the epoch (``psutil``, for people). A
record only matches a live process when the PID exists AND its start time is the recorded one,
so a PID the OS has reused for an unrelated process is never signalled.
The server registers itself; later features (local runtime processes) add their own records
with :func:`register`, and ``platform server stop --all`` stops everything listed here.

Infrastructure (below the domains): the API server and, later, the local runtime register here.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "ProcessRecord",
    "holder_gone",
    "holder_id",
    "is_alive",
    "live_process",
    "read_all",
    "record_of",
    "register",
    "registry_dir",
    "started_after_boot",
    "terminate",
    "unregister",
]

#: start times are whole clock ticks (1/100 s), so two readings of one process agree exactly
_START_TOLERANCE = 0.05
#: records written before ``started`` existed compare ``create_time`` (wall-clock based)
_CREATE_TIME_TOLERANCE = 0.05
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """One process the platform started: PID, role and identity (start time, command line)."""

    pid: int
    role: str
    create_time: float
    cmdline: list[str] = field(default_factory=list)
    registered_at: float = 0.0
    #: seconds after boot (:func:`started_after_boot`); None in records of older versions
    started: float | None = None


def started_after_boot(pid: int) -> float:
    """When ``pid`` started, in seconds after boot: the kernel's start time in clock ticks
    (``/proc/<pid>/stat``), which no change of the wall clock moves.

    ``psutil.Process.create_time()`` adds ``/proc/stat``'s ``btime`` to it — whole seconds
    the kernel derives from the wall clock at each read — so any step of the wall clock (NTP,
    a virtual machine resumed after a pause) moved every recorded start time, and every
    recorded process looked like a reused PID: twice in one CI run a live supervisord, its
    command line matching, was refused as "not ours"; a live lease holder would have been
    taken for dead.

    Raises:
        psutil.NoSuchProcess: there is no such process.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        raise psutil.NoSuchProcess(pid) from None
    except OSError:  # no procfs: psutil's reading, wall clock included
        return psutil.Process(pid).create_time() - psutil.boot_time()
    # fields after "pid (comm) ": state is field 3, starttime field 22
    return int(stat[stat.rindex(b")") + 2 :].split()[19]) / _CLOCK_TICKS


def registry_dir(run_dir: Path) -> Path:
    """``<run_dir>/pids``, the folder holding one ``<pid>.json`` per registered process."""
    return run_dir / "pids"


def record_of(pid: int, *, role: str) -> ProcessRecord:
    """The record of the live process ``pid`` (start times, command line), not written
    anywhere: what :func:`register` stores, and what :func:`terminate` needs.

    Raises:
        psutil.NoSuchProcess: the process is already gone.
    """
    proc = psutil.Process(pid)
    return ProcessRecord(
        pid=pid,
        role=role,
        create_time=proc.create_time(),
        cmdline=_cmdline(proc),
        registered_at=time.time(),
        started=started_after_boot(pid),
    )


def register(run_dir: Path, pid: int, *, role: str) -> ProcessRecord:
    """Record a running process so ``platform server stop --all`` can stop it later.

    Args:
        run_dir: ``settings.run_dir`` of the data directory.
        pid: a live process id.
        role: what it is (``server``, ``workload:my-api``, …), shown by ``server status``.

    Raises:
        psutil.NoSuchProcess: the process is already gone.
    """
    record = record_of(pid, role=role)
    folder = registry_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{pid}.json.tmp"
    tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
    os.replace(tmp, folder / f"{pid}.json")
    return record


def unregister(run_dir: Path, pid: int) -> None:
    """Forget a process (no error when it was not registered)."""
    with contextlib.suppress(FileNotFoundError):
        (registry_dir(run_dir) / f"{pid}.json").unlink()


def read_all(run_dir: Path) -> list[ProcessRecord]:
    """Every record in the registry, ordered by PID; unreadable files are skipped."""
    records = []
    folder = registry_dir(run_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records.append(ProcessRecord(**data))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(records, key=lambda r: r.pid)


def live_process(record: ProcessRecord) -> psutil.Process | None:
    """The live process ``record`` describes, or None when it exited or its PID was reused."""
    try:
        proc = psutil.Process(record.pid)
        if record.started is not None:
            if abs(started_after_boot(record.pid) - record.started) > _START_TOLERANCE:
                return None
        elif abs(proc.create_time() - record.create_time) > _CREATE_TIME_TOLERANCE:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_alive(record: ProcessRecord) -> bool:
    """True when the recorded process still runs (same PID and same start time)."""
    return live_process(record) is not None


def terminate(record: ProcessRecord, *, timeout: float = 10.0) -> bool:
    """Stop a recorded process and its children: SIGTERM, then SIGKILL after ``timeout`` s.

    Returns:
        True when a live process was stopped, False when it was already gone (or the PID
        now belongs to another process, which is left alone).
    """
    proc = live_process(record)
    if proc is None:
        return False
    try:
        family = [*proc.children(recursive=True), proc]
    except psutil.NoSuchProcess:
        return False
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    alive = _wait_gone(family, timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    _wait_gone(alive, timeout)
    return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` s for ``procs`` to exit; returns those still running.

    A zombie counts as gone: it has exited, only its parent has not collected it yet (it is
    reaped here when the parent is this process).
    """
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive:
        alive = [proc for proc in alive if _running(proc)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return alive


def _running(proc: psutil.Process) -> bool:
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
        with contextlib.suppress(psutil.Error, ChildProcessError):
            proc.wait(timeout=0)
        return False
    except psutil.NoSuchProcess:
        return False


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return []


def holder_id() -> str:
    """A lease holder id for this process: ``<host>:<pid>:<start time>:<random>`` — unique,
    and enough for :func:`holder_gone` to tell whether the process still runs."""
    pid = os.getpid()
    started = started_after_boot(pid)
    return f"{socket.gethostname()}:{pid}:{started!r}:{uuid.uuid4().hex[:8]}"


def holder_gone(holder: str) -> bool:
    """True when ``holder`` (a :func:`holder_id`) ran on this host and that process no
    longer exists; False for another host's holder or one that does not parse."""
    host, _, rest = holder.partition(":")
    parts = rest.split(":")
    if host != socket.gethostname() or len(parts) != 3:
        return False
    try:
        pid, started = int(parts[0]), float(parts[1])
    except ValueError:
        return False
    if started > time.clock_gettime(time.CLOCK_BOOTTIME):
        # an id of an older version: its start time is psutil's, seconds since the epoch
        record = ProcessRecord(pid=pid, role="server", create_time=started)
    else:
        record = ProcessRecord(pid=pid, role="server", create_time=0.0, started=started)
    return not is_alive(record)
