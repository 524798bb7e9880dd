"""ManagedRedis against a real redis-server run by a real supervisord (one home per test)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from goldenpath.drivers.local.postgres import Endpoint
from goldenpath.drivers.local.redis import PROGRAM_PREFIX, ManagedRedis
from goldenpath.drivers.local.supervisor import ProcessSupervisor
from goldenpath.errors import InvalidInput, NotFound, Unavailable
from goldenpath.settings import Settings

REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")
PASSWORD = 's3cret-redis-pw-9d2c with spaces "and" quotes'


def wait_for(check: Callable[[], Any], timeout: float = 15.0, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except redis.RedisError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def client(endpoint: Endpoint, password: str | None) -> redis.Redis:
    return redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        password=password,
        socket_timeout=5,
        decode_responses=True,
    )


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[tuple[ManagedRedis, ProcessSupervisor]]:
    """Instances of a fresh home; supervisord (and so every instance) stopped afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home)
    supervisor = ProcessSupervisor(settings.home)
    try:
        yield ManagedRedis(settings, supervisor), supervisor
    finally:
        supervisor.shutdown()


@needs_redis
def test_instance_needs_its_password_and_applies_maxmemory(
    managed: tuple[ManagedRedis, ProcessSupervisor],
) -> None:
    rds, supervisor = managed
    endpoint = rds.ensure_instance("cache", password=PASSWORD, maxmemory_mb=2)
    assert endpoint.host == "127.0.0.1"

    with client(endpoint, PASSWORD) as conn:
        assert conn.ping() is True
        assert conn.config_get("maxmemory") == {"maxmemory": str(2 * 1024 * 1024)}
        assert conn.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        value = b"x" * 10_000
        for i in range(600):  # 6 MB into a 2 MiB cache: evicted, never refused
            conn.set(f"k{i}", value)
        assert 0 < conn.dbsize() < 600
    with pytest.raises(redis.AuthenticationError):
        client(endpoint, "wrong").ping()
    with pytest.raises(redis.AuthenticationError):  # NOAUTH
        client(endpoint, None).get("k1")

    status = rds.status("cache")
    assert status["running"] is True and status["port"] == endpoint.port
    assert status["maxmemory_mb"] == 2 and status["version"].startswith(("6.", "7.", "8."))
    assert psutil.Process(status["pid"]).name().startswith("redis-server")
    conf = Path(status["data_dir"]).parent / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    for proc in [psutil.Process(status["pid"]), *psutil.Process(status["pid"]).parents()]:
        assert not any("s3cret" in arg for arg in proc.cmdline())
    assert "s3cret" not in Path(status["log_file"]).read_text()
    assert [p.name for p in supervisor.list(PROGRAM_PREFIX)] == [PROGRAM_PREFIX + "cache"]


@needs_redis
def test_set_password_refuses_the_old_one_and_survives_a_restart(
    managed: tuple[ManagedRedis, ProcessSupervisor],
) -> None:
    rds, _ = managed
    endpoint = rds.ensure_instance("sessions", password="old-pw", maxmemory_mb=16)
    with client(endpoint, "old-pw") as conn:
        conn.set("user:1", "alice")
    pid = rds.status("sessions")["pid"]

    rds.set_password("sessions", "new-pw")
    with pytest.raises(redis.AuthenticationError):
        client(endpoint, "old-pw").ping()
    with client(endpoint, "new-pw") as conn:
        assert conn.get("user:1") == "alice"
    assert rds.status("sessions")["pid"] == pid  # applied live

    # killed → supervisord restarts it on the same port with the new password (from disk)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: client(endpoint, "new-pw").ping())
    assert rds.status("sessions")["pid"] != pid
    with pytest.raises(redis.AuthenticationError):
        client(endpoint, "old-pw").ping()

    # ensure_instance again: same endpoint, size changed live, password as given
    again = rds.ensure_instance("sessions", password="third-pw", maxmemory_mb=32)
    assert again == endpoint
    with client(endpoint, "third-pw") as conn:
        assert conn.config_get("maxmemory") == {"maxmemory": str(32 * 1024 * 1024)}
    with pytest.raises(NotFound, match="ghost"):
        rds.set_password("ghost", "x")


@needs_redis
def test_second_call_is_idempotent_and_remove_deletes(
    managed: tuple[ManagedRedis, ProcessSupervisor],
) -> None:
    rds, _ = managed
    first = rds.ensure_instance("jobs", password=PASSWORD, maxmemory_mb=8)
    pid = rds.status("jobs")["pid"]
    started = time.perf_counter()
    assert rds.ensure_instance("jobs", password=PASSWORD, maxmemory_mb=8) == first
    assert time.perf_counter() - started < 0.5
    assert rds.status("jobs")["pid"] == pid
    other = rds.ensure_instance("jobs-2", password="other", maxmemory_mb=8)
    assert other.port != first.port

    rds.remove("jobs")
    assert rds.status("jobs")["state"] == "ABSENT"
    assert not (rds.directory / "jobs").exists()
    with pytest.raises(redis.ConnectionError):
        client(first, PASSWORD).ping()
    rds.remove("jobs")  # no-op the second time
    assert client(other, "other").ping() is True


def test_missing_binary_says_how_to_install_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, resources={"redis_server": str(tmp_path / "no-redis")})
    rds = ManagedRedis(settings, ProcessSupervisor(settings.home))
    with pytest.raises(Unavailable, match=r"redis-server not found .*no-redis.*apt-get install"):
        rds.ensure_instance("cache", password=PASSWORD, maxmemory_mb=8)
    assert rds.status("cache")["state"] == "ABSENT"


def test_bad_input_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home)
    rds = ManagedRedis(settings, ProcessSupervisor(settings.home))
    for name in ["Cache", "-x", "a/b", "a" * 64, ""]:
        with pytest.raises(InvalidInput, match="name"):
            rds.ensure_instance(name, password=PASSWORD, maxmemory_mb=8)
    with pytest.raises(InvalidInput, match="password"):
        rds.ensure_instance("ok", password="line\nbreak", maxmemory_mb=8)
    with pytest.raises(InvalidInput, match="maxmemory_mb"):
        rds.ensure_instance("ok", password=PASSWORD, maxmemory_mb=0)
