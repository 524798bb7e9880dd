"""The process registry: stop what we started, never a process whose PID was reused."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from goldenpath import processes as pids

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(SLEEPER)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_register_then_terminate_stops_the_process(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = pids.register(tmp_path, sleeper.pid, role="workload:demo")
    assert [r.pid for r in pids.read_all(tmp_path)] == [sleeper.pid]
    assert pids.is_alive(record)
    assert pids.terminate(record, timeout=5)
    assert sleeper.wait(timeout=5) is not None
    assert not pids.is_alive(record)


def test_a_reused_pid_is_never_signalled(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    record = pids.register(tmp_path, sleeper.pid, role="server")
    # Same PID, different start time: what a record looks like after the OS reused the PID.
    assert record.started is not None
    stale = dataclasses.replace(
        record, started=record.started - 3600, create_time=record.create_time - 3600
    )
    assert not pids.is_alive(stale)
    assert pids.terminate(stale, timeout=1) is False
    assert psutil.pid_exists(sleeper.pid) and sleeper.poll() is None


def test_terminate_escalates_to_sigkill_for_a_process_ignoring_sigterm(tmp_path: Path) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        record = pids.register(tmp_path, stubborn.pid, role="stubborn")
        started = time.monotonic()
        assert pids.terminate(record, timeout=0.5)
        assert time.monotonic() - started >= 0.5  # SIGTERM was ignored for the whole bound
        assert not psutil.pid_exists(stubborn.pid)  # … and SIGKILL ended it (and reaped it)
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait(timeout=5)


def test_unregister_and_unreadable_records(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    pids.register(tmp_path, sleeper.pid, role="x")
    (pids.registry_dir(tmp_path) / "garbage.json").write_text("{not json", encoding="utf-8")
    assert [r.pid for r in pids.read_all(tmp_path)] == [sleeper.pid]
    pids.unregister(tmp_path, sleeper.pid)
    pids.unregister(tmp_path, sleeper.pid)
    assert pids.read_all(tmp_path) == []


def test_records_and_lease_holders_survive_a_step_of_the_wall_clock(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/proc/stat``'s boot time is derived from the wall clock: a step of the clock (NTP, a
    resumed virtual machine) shifts every psutil start time. A live process must still be
    recognised, and a live lease holder must not look dead."""
    record = pids.register(tmp_path, sleeper.pid, role="supervisord")
    holder = pids.holder_id()
    boot = psutil.boot_time()
    # what psutil adds to every start time (its platform module reads /proc/stat)
    monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: boot + 1.0)
    assert psutil.Process(sleeper.pid).create_time() != record.create_time  # the shift
    assert pids.is_alive(record)
    assert not pids.holder_gone(holder)
    # a record of an older version (no boot-relative start) still uses the wall clock
    legacy = dataclasses.replace(record, started=None)
    assert not pids.is_alive(legacy)


def test_a_lease_holder_id_of_an_older_version_is_judged_by_its_epoch_start_time(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """Older holder ids carry psutil's start time (seconds since the epoch): a live holder
    must not be taken for dead, an exited one must be."""
    host = socket.gethostname()
    started = psutil.Process(sleeper.pid).create_time()
    assert not pids.holder_gone(f"{host}:{sleeper.pid}:{started!r}:abcd1234")
    assert pids.holder_gone(f"{host}:{sleeper.pid}:{started - 3600!r}:abcd1234")
