"""`platform db` end to end: the real CLI against an auto-started local server and the
platform-managed PostgreSQL — create, ls (used vs quota), connect (psql with the credentials
in its environment), --print-url by role, backup/backups/restore, delete; exit codes; no
password in any output it should not be in. One home per module (one server, one cluster)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import cli_env, run_platform, stop_everything
from typer.testing import CliRunner

from goldenpath.cli.main import app
from goldenpath.drivers.local.postgres import ManagedPostgres
from goldenpath.drivers.local.supervisor import ProcessSupervisor
from goldenpath.settings import Settings

PG_BIN = Path(os.environ.get("GOLDENPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))
pytestmark = pytest.mark.skipif(
    not (PG_BIN / "postgres").exists(), reason=f"PostgreSQL 15 binaries not in {PG_BIN}"
)
ENV = {"GOLDENPATH_DEPLOY__RECONCILE_INTERVAL": "0", "GOLDENPATH_RESOURCES__PG_BIN": str(PG_BIN)}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("clidb") / "home"
    path.mkdir()
    try:
        yield path
    finally:
        try:
            stop_everything(path)
        finally:
            settings = Settings(home=path, resources={"pg_bin": PG_BIN})
            ProcessSupervisor(path).shutdown()
            ManagedPostgres(settings, ProcessSupervisor(path)).destroy()


def db(home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """`platform db …` in this process (the auto-started server is a real separate process)."""
    environ = {**cli_env(home), **ENV, **env}
    cleared = {k: None for k in os.environ if k.startswith("GOLDENPATH_") and k not in environ}
    result = CliRunner().invoke(app, ["db", *args], env={**cleared, **environ})
    return result.exit_code, result.stdout, result.stderr


def psql_here(home: Path, capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`platform db connect …` in this process; psql's output is read from the real fds."""
    capfd.readouterr()
    code = db(home, "connect", *args)[0]
    out, err = capfd.readouterr()
    return code, out, err


def psql(home: Path, *args: str) -> tuple[int, str, str]:
    """`platform db connect …` as a real subprocess (psql writes to the real stdout)."""
    done = run_platform(home, "db", "connect", *args, **ENV)
    return done.returncode, done.stdout, done.stderr


def new_name() -> str:
    return f"cli-{uuid.uuid4().hex[:6]}"


def test_create_ls_connect_and_print_url(home: Path) -> None:
    name = new_name()
    code, out, err = db(home, "create", "--type", "postgres", "--size", "small", "--name", name,
                        "-o", "json")  # fmt: skip
    assert code == 0, err
    claim = json.loads(out)
    assert (claim["name"], claim["state"], claim["environment"]) == (name, "ready", "dev")

    code, out, err = db(home, "ls")
    assert code == 0, err
    line = next(row for row in out.splitlines() if name in row)
    assert "ready" in line and "/ 1024 MiB" in line

    code, url, err = db(home, "connect", name, "--print-url")
    assert code == 0, err
    url = url.strip()
    password = url.split(":")[2].split("@")[0]
    assert url.startswith("postgresql://dev_cli_") and len(password) > 20

    code, out, err = psql(home, name, "--", "-At", "-c", "select current_user")
    assert code == 0, err
    assert out.strip() == f"dev_{name.replace('-', '_')}"

    environ = {**cli_env(home), **ENV}
    made = CliRunner().invoke(
        app,
        ["auth", "token", "create", "user:default/admin", "--role", "member", "-o", "json"],
        env=environ,
    )
    assert made.exit_code == 0, made.stderr
    member = json.loads(made.stdout)["token"]
    code, masked, err = db(home, "connect", name, "--print-url", GOLDENPATH_SERVER__TOKEN=member)
    assert code == 0, err
    assert password not in masked and "********@127.0.0.1" in masked

    for args in (
        ("ls", "-o", "json"),
        ("show", name),
        ("create", "--name", name),
        ("backups", name),
    ):
        code, out, err = db(home, *args)
        assert code == 0, err
        assert password not in out + err
    logs = [p for p in home.rglob("*") if p.is_file() and ".log" in p.name]
    assert logs, "the server and the managed PostgreSQL write logs under the home"
    for log in logs:
        assert password not in log.read_text(errors="replace"), log


def test_backup_restore_and_delete(home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    name = new_name()
    assert db(home, "create", "--name", name)[0] == 0
    sql = "create table t (x int); insert into t values (1), (2)"
    assert psql_here(home, capfd, name, "--", "-c", sql)[0] == 0
    code, out, err = db(home, "backup", name, "-o", "json")
    assert code == 0, err
    backup = json.loads(out)
    assert Path(backup["path"]).is_file() and backup["path"].endswith(".dump")
    assert psql_here(home, capfd, name, "--", "-c", "delete from t")[0] == 0
    code, out, err = db(home, "backups", name)
    assert code == 0 and backup["id"] in out
    code, out, err = db(home, "restore", name, backup["id"])
    assert code == 0, err
    assert (
        psql_here(home, capfd, name, "--", "-At", "-c", "select count(*) from t")[1].strip() == "2"
    )

    code, out, err = db(home, "delete", name)
    assert code == 2 and "--yes" in err  # no terminal: confirmation required
    code, out, err = db(home, "delete", name, "--yes")
    assert code == 0, err
    assert "final backup" in err
    code, out, err = db(home, "show", name)
    assert code == 3 and "does not exist" in err


def test_bad_input_exit_codes_and_help(home: Path) -> None:
    code, out, err = db(home, "create", "--type", "mongodb", "--name", new_name())
    assert code == 1 and "valid types: postgres, redis" in err
    code, out, err = db(home, "create", "--size", "huge", "--name", new_name())
    assert code == 1 and "valid sizes: small, medium, large" in err
    name = new_name()
    assert db(home, "create", "--name", name)[0] == 0
    code, out, err = db(home, "create", "--name", name, "--size", "large")
    assert code == 4 and "exists as postgres/small" in err
    code, out, err = db(home, "create")
    assert code == 1 and "--name" in err
    code, out, err = db(home, "--help")
    assert code == 0 and "platform db create --type postgres" in out
