"""Shared fixtures: settings under a temp home, and migrated databases on SQLite and PostgreSQL.

``pg_url`` starts one throwaway PostgreSQL 15 cluster per test session (per xdist worker) with
the machine's ``initdb``/``pg_ctl``, on 127.0.0.1 and a free port, trust auth, and stops and
removes it at the end. ``GOLDENPATH_TEST_DATABASE_URL`` points the suite at an existing server
instead. ``engine`` is parametrised over both backends: every test that takes it runs on an
empty, migrated database of each kind (PostgreSQL: a fresh database cloned from a migrated
template, dropped afterwards).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

PG_BIN = Path(os.environ.get("GOLDENPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))
_TEMPLATE_DB = "goldenpath_template"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (initdb refuses to run as root)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


#: The slowest test files (each ≥ ~25 s on 2 cores; `bash scripts/test.sh --durations=60`),
#: heaviest first. They are collected first so that, with ``--dist loadfile``, the two workers
#: start on them and finish together, instead of one worker running a slow file alone at
#: the end (that tail cost ~4 minutes of a 16-minute run).
HEAVY_FIRST: tuple[str, ...] = (
    "cli/test_cli_server_lifecycle.py",
    "cli/test_cli_resources_scenario.py",
    "deploy/test_deploy_service_local.py",
    "cli/test_cli_catalog_server.py",
    "cli/test_cli_render.py",
    "portal/test_portal_browser.py",
    "test_quickstart.py",
    "cli/test_cli_deploy_server.py",
    "cli/test_cli_create_and_deploy.py",
    "cli/test_cli_scaffolder.py",
    "deploy/test_deploy_faults_local.py",
    "portal/test_portal_deployments.py",
    "test_benchmarks.py",
    "api/test_api_scaffolder.py",
    "scaffolder/test_builtin_node.py",
    "cli/test_cli_db.py",
    "drivers/test_local_redis.py",
    "cli/test_cli_deploy_datasette.py",
    "cli/test_cli_secrets.py",
    "cli/test_cli_policy.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the files of :data:`HEAVY_FIRST` first, in that order (the rest keep theirs)."""
    tests_dir = Path(__file__).parent
    missing = [name for name in HEAVY_FIRST if not (tests_dir / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py HEAVY_FIRST names missing files: {missing}")
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}

    def key(item: pytest.Item) -> int:
        try:
            rel = item.path.relative_to(tests_dir).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(rel, len(rank))

    items.sort(key=key)


def _processes_under(root: str) -> list[psutil.Process]:
    """Live processes (not this one) whose command line or environment names a path below
    ``root`` — a ``platform server`` started by a CLI test has its data directory only in
    ``GOLDENPATH_HOME``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        cmdline = proc.info.get("cmdline") or []
        if any(root in part for part in cmdline):
            found.append(proc)
            continue
        with contextlib.suppress(psutil.Error):
            if any(root in value for value in proc.environ().values()):
                found.append(proc)
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test left a process behind (a server, supervisord, a replica…).

    Runs once, in the controller (after every xdist worker has torn down): any process
    whose command line or environment still names a path below the session's temporary
    directory is a leak. They get 10 s to finish exiting, then are killed and listed, and
    the run fails.
    """
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    root = str(factory.getbasetemp())
    deadline = time.monotonic() + 10
    left = _processes_under(root)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _processes_under(root)
    if not left:
        return
    lines = []
    for proc in left:
        with contextlib.suppress(psutil.Error):
            lines.append(f"  pid {proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "processes left behind", red=True)
        reporter.write_line(
            f"tests left {len(left)} process(es) running (killed now); the fixture that "
            "started them must stop them:\n" + "\n".join(lines),
            red=True,
        )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database ``goldenpath_test`` on a throwaway local cluster.

    Skips when neither ``GOLDENPATH_TEST_DATABASE_URL`` is set nor ``initdb``/``pg_ctl`` exist.
    """
    explicit = os.environ.get("GOLDENPATH_TEST_DATABASE_URL")
    if explicit:
        yield explicit
        return
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(
            f"PostgreSQL binaries not found in {PG_BIN} (install postgresql-15, set "
            "GOLDENPATH_PG_BIN, or set GOLDENPATH_TEST_DATABASE_URL)"
        )
    root = Path(tempfile.mkdtemp(prefix="goldenpath-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = _free_port()
    pg_ctl = str(PG_BIN / "pg_ctl")
    try:
        _run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            )
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-o",
                    opts,
                    "-l",
                    str(root / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        )
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE goldenpath_test"))
        admin.dispose()
        yield f"postgresql://postgres@127.0.0.1:{port}/goldenpath_test"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _admin_engine(url: str) -> Engine:
    parsed = make_url(url).set(drivername="postgresql+psycopg", database="postgres")
    return create_engine(parsed, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(pg_url: str) -> Iterator[str]:
    """Name of a migrated template database that per-test databases are cloned from."""
    admin = _admin_engine(pg_url)
    name = f"{_TEMPLATE_DB}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(url)
    migrate.upgrade(eng)
    eng.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database at the newest migration, on SQLite (WAL file) or PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        migrate.upgrade(eng)
        yield eng
        eng.dispose()
        return
    pg_url: str = request.getfixturevalue("pg_url")
    template: str = request.getfixturevalue("pg_template")
    admin = _admin_engine(pg_url)
    name = f"gp_{uuid.uuid4().hex[:12]}"
    for attempt in range(20):  # the template may briefly be in use by another clone
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.1)
    eng = make_engine(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with ``home`` in a fresh temp dir (nothing read from the user's machine)."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home)


@pytest.fixture
def catalog(engine: Engine, settings: Settings) -> Iterator[Any]:
    """A ``CatalogService`` on the parametrised ``engine`` (so: on SQLite and PostgreSQL),
    wired as the server wires it (on PostgreSQL, with its bounded read engine)."""
    from goldenpath.catalog.service import CatalogService
    from goldenpath.store.engine import make_read_engine

    read_engine = make_read_engine(engine.url.render_as_string(hide_password=False))
    yield CatalogService(engine=engine, settings=settings, read_engine=read_engine)
    if read_engine is not None:
        read_engine.dispose()


def build_file_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (dedented) and return ``root``."""
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return root


@pytest.fixture
def file_tree() -> Callable[[Path, dict[str, str]], Path]:
    """:func:`build_file_tree` as a fixture (test modules cannot import conftest)."""
    return build_file_tree
