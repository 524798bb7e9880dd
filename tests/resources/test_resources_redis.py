"""Redis claims on a real supervised redis-server: password, maxmemory by size class,
rotation at the source, delete; a missing binary is a clear error and a failed claim."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from goldenpath.drivers.local.redis import ManagedRedis
from goldenpath.errors import InvalidInput, Unavailable
from goldenpath.resources import store
from goldenpath.resources.model import ClaimRequest
from goldenpath.secrets.service import SecretScope
from goldenpath.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
Unique = Callable[[str], str]


def client(outputs: dict[str, str], password: str | None = None) -> redis.Redis:
    return redis.Redis(
        host=outputs["host"],
        port=int(outputs["port"]),
        password=password if password is not None else outputs["password"],
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),  # a refused connection fails at once
    )


def test_a_redis_claim_is_a_password_protected_sized_instance(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service()
    name = unique("cache")
    claim = svc.create(ClaimRequest(name=name, type="redis", size="medium"), actor="alice")
    assert (claim.state, claim.composition) == ("ready", "local-redis")
    out = svc.outputs(name, environment="dev", reveal=True)
    assert out["url"] == f"redis://default:{out['password']}@{out['host']}:{out['port']}/0"
    conn = client(out)
    conn.set("k", "v")
    assert conn.get("k") == b"v"
    assert conn.config_get("maxmemory")["maxmemory"] == str(256 * 1024 * 1024)
    with pytest.raises(redis.AuthenticationError):
        client(out, "wrong-password").ping()
    with pytest.raises(InvalidInput, match="backups and restores exist for postgres"):
        svc.backup(name, environment="dev", actor="alice")

    prefix = name.upper().replace("-", "_")
    svc.secrets.rotate(f"{prefix}_PASSWORD", scope=SecretScope(environment="dev"), actor="ops")
    new = svc.outputs(name, environment="dev", reveal=True)
    assert new["password"] != out["password"]
    with pytest.raises(redis.AuthenticationError):
        client(out).ping()
    assert client(new).get("k") == b"v"

    assert svc.delete(name, environment="dev", actor="alice") is None  # no backups for redis
    with pytest.raises(redis.ConnectionError):
        client(new).ping()


def test_a_missing_redis_server_fails_the_claim_with_the_install_hint(
    make_service: Callable[..., Any], unique: Unique, managed: Any
) -> None:
    settings = Settings(home=managed.settings.home, resources={"redis_server": "no-such-redis"})
    svc = make_service(redis=ManagedRedis(settings, managed.supervisor))
    name = unique("nocache")
    with pytest.raises(Unavailable, match="apt-get install redis-server"):
        svc.create(ClaimRequest(name=name, type="redis"), actor="alice")
    failed = store.find_claim(svc.engine, name, "dev")
    assert failed is not None and failed.state == "failed" and "apt-get" in failed.message
    assert svc.secrets.list(environment="dev") == []
