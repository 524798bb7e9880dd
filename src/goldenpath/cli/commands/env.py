"""``platform env``: list, create, clone and delete environments.

Thin edges over ``/api/deploy/v1/environments``. An environment created with ``--ttl`` is
ephemeral: the server tears it down once it expires (e.g. one per pull request).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.commands import _deploy_args, _deploy_view
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

ENVIRONMENTS = f"{DEPLOY}/environments"

app = typer.Typer(
    help=(
        "Environments: dev, staging, production and your own (ephemeral with --ttl).\n\n"
        "Examples:\n\n"
        "  platform env ls\n\n"
        "  platform env create pr-123 --from staging --ttl 24h\n\n"
        "  platform env clone staging staging-copy --ttl 2d\n\n"
        "  platform env delete pr-123 --yes"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

TtlOption = Annotated[
    str | None,
    typer.Option("--ttl", help="Delete it after this long: 30m, 24h, 2d (default: never)."),
]


def _ttl(value: str | None) -> float | None:
    try:
        return _deploy_args.parse_duration(value)
    except typer.BadParameter as e:
        e.param_hint = "'--ttl'"
        raise


def _show(env: dict[str, Any], fmt: OutputFormat) -> None:
    output.emit(env, fmt, lambda e: _deploy_view.environment_table([e]))


@app.command("ls")
def ls(fmt: OutputOption = OutputFormat.table) -> None:
    """List environments. -o json prints [{name, driver, parent, ephemeral, expiresAt,
    createdAt, createdBy, status, settings}].

    Example:

      platform env ls -o json
    """
    with context.api_client() as client:
        found = client.get(ENVIRONMENTS)
    output.emit(found, fmt, _deploy_view.environment_table)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A DNS label: pr-123, alice-dev …")],
    source: Annotated[
        str | None, typer.Option("--from", help="Copy the settings of this environment.")
    ] = None,
    ttl: TtlOption = None,
    driver: Annotated[
        str | None,
        typer.Option("--driver", help="local (this machine) or kubernetes (a GitOps repository)."),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="A setting (repeatable): gitops_repo, namespace…"
        ),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create an empty environment. Exit 1 for a bad name, TTL or setting, 4 when it exists.
    A kubernetes environment's deploys are rendered and committed to its GitOps repository
    (settings gitops_repo, gitops_remote, namespace, domain, kubernetes_version — see
    docs/kubernetes.md).

    Examples:

      platform env create pr-123 --ttl 24h

      platform env create alice-dev --from dev

      platform env create prod-k8s --driver kubernetes --set gitops_repo=/srv/gitops
    """
    body: dict[str, Any] = {"name": name}
    seconds = _ttl(ttl)
    if source:
        body["from"] = source
    if driver:
        body["driver"] = driver
    if settings:
        pairs = [item.partition("=") for item in settings]
        bad = [key for key, sep, _ in pairs if not sep or not key]
        if bad:
            raise typer.BadParameter(f"--set takes KEY=VALUE, got {bad[0]!r}", param_hint="--set")
        body["settings"] = {key.strip(): value for key, _, value in pairs}
    if seconds is not None:
        body["ttl"] = seconds
    with context.api_client() as client:
        created = client.post(ENVIRONMENTS, body)
    _show(created, fmt)


@app.command("clone")
def clone(
    source: Annotated[str, typer.Argument(help="The environment to copy.")],
    name: Annotated[str, typer.Argument(help="The new environment's name.")],
    ttl: TtlOption = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create NAME with SOURCE's settings and deploy SOURCE's running versions into it (the
    deployments run in the background: see `platform deploy history --env NAME`).

    Example:

      platform env clone staging pr-123 --ttl 24h
    """
    body: dict[str, Any] = {"name": name}
    seconds = _ttl(ttl)
    if seconds is not None:
        body["ttl"] = seconds
    with context.api_client() as client:
        created = client.post(f"{ENVIRONMENTS}/{source}/clone", body)
    _show(created, fmt)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The environment to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Delete an environment: every service running in it is stopped and its routes removed
    (deployment history is kept). Asks first unless --yes; without a terminal --yes is
    required (exit 2).

    Example:

      platform env delete pr-123 --yes
    """
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter(
                f"deleting {name!r} stops everything in it; pass --yes to confirm",
                param_hint="'--yes'",
            )
        typer.confirm(f"Delete environment {name} and stop everything running in it?", abort=True)
    with context.api_client() as client:
        deleted = client.delete(f"{ENVIRONMENTS}/{name}")
    _show(deleted, fmt)
