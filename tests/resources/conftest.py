"""Fixtures of the resources tests: a real managed PostgreSQL (and redis-server when
installed) per test session, and a fresh store + SecretService + ResourceService per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

PG_BIN = Path(os.environ.get("GOLDENPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class Managed:
    """The data services of the session's home."""

    settings: Settings
    postgres: Any
    redis: Any
    supervisor: Any


@pytest.fixture(scope="session")
def managed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Managed]:
    """A managed PostgreSQL and Redis (started on first use) for one home per test session
    (per xdist worker: claims use unique names); supervisord stopped and the cluster removed
    at the end."""
    if not (PG_BIN / "postgres").exists():
        pytest.skip(f"PostgreSQL 15 binaries not in {PG_BIN}")
    from goldenpath.drivers.local.postgres import ManagedPostgres
    from goldenpath.drivers.local.redis import ManagedRedis
    from goldenpath.drivers.local.supervisor import ProcessSupervisor

    home = tmp_path_factory.mktemp("reshome")
    settings = Settings(home=home, resources={"pg_bin": PG_BIN})
    supervisor = ProcessSupervisor(settings.home)
    postgres = ManagedPostgres(settings, supervisor)
    redis = ManagedRedis(settings, supervisor)
    try:
        yield Managed(settings, postgres, redis, supervisor)
    finally:
        supervisor.shutdown()
        postgres.destroy()


@pytest.fixture
def store_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store of this test."""
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_service(managed: Managed, store_engine: Engine, tmp_path: Path) -> Callable[..., Any]:
    """Build a ResourceService on the module's data services and this test's store (backups
    under this test's tmp dir unless ``backup_dir`` is given)."""
    from goldenpath.resources.service import ResourceService
    from goldenpath.secrets.service import SecretService

    def build(**kwargs: Any) -> Any:
        resources = {
            "pg_bin": PG_BIN,
            "backup_dir": kwargs.pop("backup_dir", tmp_path / "backups"),
            "compositions_dir": tmp_path / "compositions",
            **kwargs.pop("resources", {}),
        }
        settings = Settings(home=managed.settings.home, resources=resources)
        engine = kwargs.pop("engine", store_engine)
        secrets = kwargs.pop("secrets", None) or SecretService(engine=engine, settings=settings)
        return ResourceService(
            engine=engine,
            settings=settings,
            secrets=secrets,
            **{"postgres": managed.postgres, "redis": managed.redis, **kwargs},
        )

    return build


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("db")`` → ``db-1a2b3c`` (claims of one module share a cluster)."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:6]}"
