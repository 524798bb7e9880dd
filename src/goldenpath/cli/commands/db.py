"""``platform db``: self-service databases — create, list, connect, back up, restore, delete.

Thin edges over ``/api/resources/v1/claims``. ``connect`` runs ``psql`` with the credentials
in its environment (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``), never
on its command line; the password is passed only when the server revealed it (admin token).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput, Unavailable

__all__ = ["app"]

RESOURCES = "/api/resources/v1"
CLAIMS = f"{RESOURCES}/claims"

app = typer.Typer(
    help=(
        "Databases (PostgreSQL) for your services: size classes, backups, credentials as "
        "secrets.\n\n"
        "Examples:\n\n"
        "  platform db create --type postgres --size small --name orders-db\n\n"
        "  platform db ls --env dev\n\n"
        "  platform db connect orders-db\n\n"
        "  platform db connect orders-db --print-url\n\n"
        "  platform db backup orders-db\n\n"
        "  platform db restore orders-db 20261204T135600123456Z\n\n"
        "  platform db delete orders-db --yes"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

EnvOption = Annotated[str, typer.Option("--env", "-e", help="The environment.")]
NameArg = Annotated[str, typer.Argument(help="The database (claim) name.")]


def _path(env: str, name: str, suffix: str = "") -> str:
    return f"{CLAIMS}/{env}/{name}{suffix}"


def _mib(value: Any) -> str:
    return "" if value is None else f"{int(value) / 1048576:.1f} MiB"


def _usage(claim: dict[str, Any]) -> str:
    quota = claim.get("storageQuotaMb")
    used = _mib(claim.get("usedBytes")) or "-"
    return f"{used} / {quota} MiB" if quota else used


def _claims_table(claims: list[dict[str, Any]]) -> Any:
    rows = [
        (
            c["name"],
            c["environment"],
            c["type"],
            c["size"],
            c["state"],
            _usage(c),
            ", ".join(c.get("consumers") or []),
            c.get("message") if c["state"] != "ready" else "",
        )
        for c in claims
    ]
    columns = ("NAME", "ENV", "TYPE", "SIZE", "STATE", "USED / QUOTA", "CONSUMERS", "MESSAGE")
    return output.make_table(columns, rows)


def _backups_table(backups: list[dict[str, Any]]) -> Any:
    rows = [
        (b["id"], b["reason"], _mib(b["sizeBytes"]), b["createdAt"], b["createdBy"], b["path"])
        for b in backups
    ]
    return output.make_table(("ID", "REASON", "SIZE", "CREATED", "BY", "FILE"), rows)


def _default_name(kind: str) -> str:
    spec = Path("platform.yaml")
    if spec.is_file():
        from goldenpath.workloads.loader import load_workload

        try:
            service = load_workload(spec).name
        except Exception:  # a broken spec only loses the default; --name still works
            service = None
        if service:
            return f"{service}-{'db' if kind == 'postgres' else kind}"
    raise InvalidInput(
        "--name: give the database a name (e.g. --name orders-db); without it the name is "
        "<service>-db taken from ./platform.yaml, and there is none here"
    )


@app.command("create")
def create(
    kind: Annotated[str, typer.Option("--type", "-t", help="postgres or redis.")] = "postgres",
    size: Annotated[str, typer.Option("--size", "-s", help="small, medium or large.")] = "small",
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Default: <service>-db from ./platform.yaml."),
    ] = None,
    env: EnvOption = "dev",
    owner: Annotated[str | None, typer.Option("--owner", help="A catalog Group ref.")] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create (or find, when it exists with the same type and size) a database. Its
    connection details become secrets NAME_HOST, NAME_PORT, NAME_DATABASE, NAME_USERNAME,
    NAME_PASSWORD and NAME_URL in the environment. Exit 1 for an unknown type or size (the
    valid ones are listed), 4 when NAME exists with another type or size.

    Examples:

      platform db create --type postgres --size small --name orders-db

      platform db create --type redis --size medium --name sessions --env staging
    """
    body: dict[str, Any] = {
        "name": name or _default_name(kind),
        "type": kind,
        "size": size,
        "environment": env,
    }
    if owner:
        body["owner"] = owner
    with context.api_client() as client:
        claim = client.post(CLAIMS, body)
    output.emit(claim, fmt, lambda c: _claims_table([c]))


@app.command("ls")
def ls(
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    kind: Annotated[str | None, typer.Option("--type", "-t", help="Only this type.")] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List databases with their size used vs quota. -o json prints [Claim].

    Example:

      platform db ls --env dev -o json
    """
    params: dict[str, Any] = {"usage": "true"}
    if env:
        params["environment"] = env
    if kind:
        params["type"] = kind
    with context.api_client() as client:
        found = client.get(CLAIMS, params=params)
    output.emit(found, fmt, _claims_table)


@app.command("show")
def show(name: NameArg, env: EnvOption = "dev", fmt: OutputOption = OutputFormat.yaml) -> None:
    """Show one database (no secret values).

    Example:

      platform db show orders-db --env dev
    """
    with context.api_client() as client:
        claim = client.get(_path(env, name))
    output.emit(claim, fmt)


def _psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    candidate = context.settings().resources.pg_bin / "psql"
    if candidate.exists():
        return str(candidate)
    raise Unavailable(
        "psql not found: install postgresql-client (apt-get install postgresql-client)"
    )


@app.command("connect", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def connect(
    ctx: typer.Context,
    name: NameArg,
    env: EnvOption = "dev",
    print_url: Annotated[
        bool,
        typer.Option("--print-url", help="Print the connection URL instead of opening psql."),
    ] = False,
) -> None:
    """Open psql on the database with the credentials in its environment (never on its
    command line). Arguments after NAME (or after --) go to psql. The password is shown or
    passed only when your token may reveal it (admin); otherwise psql asks for it and
    --print-url prints the URL with the password masked.

    Examples:

      platform db connect orders-db

      platform db connect orders-db -- -c 'select count(*) from orders'

      psql "$(platform db connect orders-db --print-url)"
    """
    with context.api_client() as client:
        answer = client.get(_path(env, name, "/connection"), params={"reveal": "true"})
    outputs: dict[str, str] = answer["outputs"]
    if print_url:
        typer.echo(outputs.get("url", ""))
        return
    child = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    child.update(
        PGHOST=outputs.get("host", ""),
        PGPORT=str(outputs.get("port", "")),
        PGDATABASE=outputs.get("database", ""),
        PGUSER=outputs.get("username", ""),
    )
    if answer.get("revealed") and outputs.get("password"):
        child["PGPASSWORD"] = outputs["password"]
    else:
        output.stderr().print("your token may not reveal the password: psql will ask for it")
    done = subprocess.run([_psql(), *ctx.args], env=child, check=False)
    raise typer.Exit(done.returncode)


@app.command("backup")
def backup(name: NameArg, env: EnvOption = "dev", fmt: OutputOption = OutputFormat.table) -> None:
    """Back up the database now (pg_dump custom format; the oldest beyond the retention
    are removed once the new one is complete).

    Example:

      platform db backup orders-db --env production
    """
    with context.api_client() as client:
        made = client.post(_path(env, name, "/backups"))
    output.emit(made, fmt, lambda b: _backups_table([b]))


@app.command("backups")
def backups(name: NameArg, env: EnvOption = "dev", fmt: OutputOption = OutputFormat.table) -> None:
    """List the database's backups, newest first.

    Example:

      platform db backups orders-db -o json
    """
    with context.api_client() as client:
        found = client.get(_path(env, name, "/backups"))
    output.emit(found, fmt, _backups_table)


@app.command("restore")
def restore(
    name: NameArg,
    backup_id: Annotated[str, typer.Argument(metavar="BACKUP", help="A backup id (db backups).")],
    env: EnvOption = "dev",
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Restore a backup into the database (its current content is replaced).

    Example:

      platform db restore orders-db 20261204T135600123456Z
    """
    with context.api_client() as client:
        done = client.post(_path(env, name, "/restore"), {"backup": backup_id})
    output.emit(done, fmt, lambda d: _claims_table([d["claim"]]))
    if fmt is OutputFormat.table:
        output.stderr().print(f"restored {name} from backup {backup_id}")


@app.command("delete")
def delete(
    name: NameArg,
    env: EnvOption = "dev",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete even while services still use it.")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Delete the database: a final backup is taken first, then the database, its role and
    its secrets are removed. Asks first unless --yes; without a terminal --yes is required
    (exit 2). Exit 4 while services still use it (unless --force).

    Example:

      platform db delete orders-db --yes
    """
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter(
                f"deleting {name!r} removes the database; pass --yes to confirm",
                param_hint="'--yes'",
            )
        typer.confirm(f"Delete database {name} in {env} (a final backup is taken)?", abort=True)
    params = {"force": "true"} if force else None
    with context.api_client() as client:
        done = client.request("DELETE", _path(env, name), params=params)
    output.emit(done, fmt, lambda d: _claims_table([d["claim"]]))
    final = done.get("finalBackup")
    if final and fmt is OutputFormat.table:
        output.stderr().print(f"final backup: {final['id']} ({final['path']})")
