"""``platform secrets``: set, list (values only with --reveal), versions, rotate, delete.

Thin edges over ``/api/secrets/v1``. Values reach the server from arguments, a file or
stdin (the last two keep them out of shell history) and are never printed, except by
``list --reveal`` (admin tokens only).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group

from goldenpath.cli import context, output
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app", "parse_assignments"]

BASE = "/api/secrets/v1"
_QUOTED = re.compile(r"""^(['"])(.*)\1$""", re.DOTALL)

app = typer.Typer(
    help=(
        "Secrets per service and environment: encrypted at rest, versioned, rotated.\n\n"
        "Examples:\n\n"
        "  platform secrets set API_KEY=abc123 --service my-api --env dev\n\n"
        "  platform secrets set TLS_KEY --from-file key.pem --service my-api\n\n"
        "  platform secrets set --stdin --env dev < secrets.env\n\n"
        '  printf %s "$TOKEN" | platform secrets set TOKEN --stdin\n\n'
        "  platform secrets list --service my-api --env dev\n\n"
        "  platform secrets rotate --all --service my-api --env dev\n\n"
        "  platform secrets delete API_KEY --service my-api --env dev --yes"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

ServiceOption = Annotated[
    str | None,
    typer.Option("--service", "-s", help="Only this service (default: every service)."),
]
EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Only this environment (default: every environment)."),
]


def _scope(service: str | None, env: str | None) -> dict[str, str]:
    return {k: v for k, v in (("service", service), ("environment", env)) if v}


def _chomp(text: str) -> str:
    """Drop one trailing newline (``echo``/editors add it; a secret rarely ends with one)."""
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def parse_assignments(lines: list[str], *, where: str) -> dict[str, str]:
    """``KEY=VALUE`` items (dotenv style: ``#`` comments and blank lines skipped, an optional
    ``export``, one pair of matching quotes around the value removed) as a dict.

    Raises:
        typer.BadParameter: an item without ``=`` (the message shows the key, never a value).
    """
    found: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not sep or not key:
            raise typer.BadParameter(
                f"{where} item {number} is not KEY=VALUE (starts with {key[:20]!r}); write "
                "NAME=value, or give one NAME with --from-file/--stdin"
            )
        quoted = _QUOTED.match(value)
        found[key] = quoted.group(2) if quoted else value
    return found


def _values(items: list[str], from_file: Path | None, stdin: bool) -> dict[str, str]:
    keyed = [i for i in items if "=" in i]
    bare = [i for i in items if "=" not in i]
    if from_file is not None or stdin:
        if keyed or len(bare) > 1 or (from_file is not None and stdin):
            raise typer.BadParameter(
                "give one KEY with --from-file F, or one KEY (or none) with --stdin",
                param_hint="'KEY'",
            )
        if from_file is not None:
            if not bare:
                raise typer.BadParameter("--from-file needs the KEY to set", param_hint="'KEY'")
            try:
                return {bare[0]: _chomp(from_file.read_text(encoding="utf-8"))}
            except (OSError, UnicodeDecodeError) as e:
                raise typer.BadParameter(f"cannot read {from_file}: {e}") from e
        text = sys.stdin.read()
        if bare:
            return {bare[0]: _chomp(text)}
        found = parse_assignments(text.splitlines(), where="stdin")
        if not found:
            raise typer.BadParameter("stdin held no KEY=VALUE lines", param_hint="'--stdin'")
        return found
    if bare or not items:
        raise typer.BadParameter(
            f"{'give' if not bare else repr(bare[0]) + ' has no value: give'} KEY=VALUE, or a "
            "KEY with --from-file F or --stdin (keeps the value out of shell history)",
            param_hint="'KEY=VALUE'",
        )
    return parse_assignments(items, where="argument")


def _meta_table(rows: list[dict[str, Any]]) -> Any:
    reveal = any("value" in r for r in rows)
    columns = ["NAME", "SERVICE", "ENVIRONMENT", "VERSION", "UPDATED", "BY", "SOURCE"]
    return output.make_table(
        [*columns, *(["VALUE"] if reveal else [])],
        (
            [
                r["name"],
                r["service"] or "(all)",
                r["environment"] or "(all)",
                r["version"],
                r["updatedAt"],
                r["updatedBy"],
                r["source"],
                *([r.get("value")] if reveal else []),
            ]
            for r in rows
        ),
    )


def _rotation_table(data: dict[str, Any]) -> Any:
    table = output.make_table(
        ["NAME", "SERVICE", "ENVIRONMENT", "OUTCOME", "VERSION", "MESSAGE"],
        (
            [
                r["name"],
                r["service"] or "(all)",
                r["environment"] or "(all)",
                r["outcome"],
                f"{r['previousVersion']} → {r['version']}",
                r["message"],
            ]
            for r in data["results"]
        ),
    )
    redeployed = data.get("redeployments") or []
    if not redeployed:
        return table
    lines = [
        f"redeploying {d['service']} in {d['environment']} (deployment {d['id']})"
        for d in redeployed
    ]
    return Group(table, *lines)


@app.command("set")
def set_(
    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="KEY=VALUE pairs, or one KEY with --from-file/--stdin.", show_default=False
        ),
    ] = None,
    service: ServiceOption = None,
    env: EnvOption = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", "-f", help="Read KEY's value from this file.")
    ] = None,
    stdin: Annotated[
        bool,
        typer.Option("--stdin", help="Read KEY=VALUE lines (or one KEY's value) from stdin."),
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Set secrets (each gets a new version; all in one transaction). Without --service/--env
    a secret applies to every service/environment. One trailing newline of a file or stdin
    value is dropped. Exit 1 for a bad name or value.

    Examples:

      platform secrets set API_KEY=abc DEBUG_TOKEN=xyz --service my-api --env dev

      platform secrets set TLS_KEY --from-file key.pem --service my-api

      platform secrets set --stdin --env dev < secrets.env
    """
    values = _values(list(items or []), from_file, stdin)
    with context.api_client() as client:
        metas = client.post(f"{BASE}/secrets", {"values": values, **_scope(service, env)})
    output.emit(metas, fmt, _meta_table)


@app.command("list")
def list_(
    service: ServiceOption = None,
    env: EnvOption = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the values too (needs an admin token).")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List secrets: names, versions, when and by whom (values only with --reveal). Without
    options every scope; with --service/--env exactly that scope. -o json prints [{name,
    service, environment, version, updatedAt, updatedBy, keyId, source}].

    Examples:

      platform secrets list

      platform secrets list --service my-api --env dev --reveal
    """
    scope = _scope(service, env)
    with context.api_client() as client:
        metas: list[dict[str, Any]] = client.get(f"{BASE}/secrets", params=scope)
        if reveal:
            for meta in metas:
                where = _scope(meta["service"], meta["environment"])
                shown = client.get(f"{BASE}/secrets/{meta['name']}/value", params=where)
                meta["value"] = shown["value"]
    output.emit(metas, fmt, _meta_table)


@app.command("versions")
def versions(
    key: Annotated[str, typer.Argument(help="The secret's name.")],
    service: ServiceOption = None,
    env: EnvOption = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Every version of one secret, newest first (no values). Exit 3 when it does not exist.

    Example:

      platform secrets versions DB_PASSWORD --service my-api --env dev
    """
    with context.api_client() as client:
        found = client.get(f"{BASE}/secrets/{key}/versions", params=_scope(service, env))
    output.emit(found, fmt, _meta_table)


@app.command("rotate")
def rotate(
    key: Annotated[str | None, typer.Argument(help="The secret to rotate.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Rotate every secret of the scope (or of every scope).")
    ] = False,
    service: ServiceOption = None,
    env: EnvOption = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Rotate: generated secrets get a new random value, database credentials are changed at
    the source, secrets you set keep their value but are re-encrypted under a fresh key (the
    table says which). Redeploy the services that use a secret whose value changed.

    Examples:

      platform secrets rotate DB_PASSWORD --service my-api --env dev

      platform secrets rotate --all
    """
    if (key is None) == (not all_):
        raise typer.BadParameter("name one KEY or pass --all", param_hint="'KEY'")
    body: dict[str, Any] = {"all": all_, **_scope(service, env)}
    if key is not None:
        body["name"] = key
    with context.api_client() as client:
        done = client.post(f"{BASE}/rotate", body)
    output.emit(done, fmt, _rotation_table)


@app.command("rotate-master-key")
def rotate_master_key(fmt: OutputOption = OutputFormat.table) -> None:
    """Make a new master key current and re-wrap every stored data key (admin). The old key
    leaves the key file once no secret uses it.

    Example:

      platform secrets rotate-master-key
    """
    with context.api_client() as client:
        done = client.post(f"{BASE}/rotate-master-key")
    output.emit(
        done,
        fmt,
        lambda d: output.make_table(["KEY ID", "REWRAPPED"], [[d["keyId"], d["rewrapped"]]]),
    )


@app.command("delete")
def delete(
    key: Annotated[str, typer.Argument(help="The secret to delete (all its versions).")],
    service: ServiceOption = None,
    env: EnvOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Delete a secret with all its versions. Asks first unless --yes; without a terminal
    --yes is required (exit 2). Exit 3 when it does not exist.

    Example:

      platform secrets delete API_KEY --service my-api --env dev --yes
    """
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter(
                f"deleting {key} removes every version; pass --yes to confirm",
                param_hint="'--yes'",
            )
        typer.confirm(f"Delete secret {key} and all its versions?", abort=True)
    with context.api_client() as client:
        gone = client.request("DELETE", f"{BASE}/secrets/{key}", params=_scope(service, env))
    output.emit(
        gone,
        fmt,
        lambda d: output.make_table(
            ["DELETED", "SERVICE", "ENVIRONMENT"],
            [[d["name"], d["service"] or "(all)", d["environment"] or "(all)"]],
        ),
    )
