"""``platform deploy``: deploy the service in the current directory, follow the rollout, and
``promote`` / ``abort`` / ``rollback`` / ``history``.

``platform deploy`` alone validates ./platform.yaml (or score.yaml, or ``--file``) locally with
:mod:`goldenpath.workloads`, resolves ``--ref`` in the git checkout and sends
``POST /api/deploy/v1/deployments`` (see :mod:`._deploy_local`), then follows the rollout
(:func:`._deploy_view.follow`) until it succeeds, fails, is aborted or pauses for a promote.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from goldenpath.cli import context, output
from goldenpath.cli.client import PlatformClient
from goldenpath.cli.commands import _deploy_args, _deploy_local, _deploy_view
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput

__all__ = ["app"]


class StrategyName(enum.StrEnum):
    """Rollout strategies (Argo Rollouts)."""

    rolling = "rolling"
    canary = "canary"
    blue_green = "blue-green"


EnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment: dev, staging, production, pr-123 …")
]
ServiceOption = Annotated[
    str | None,
    typer.Option(
        "--service", "-s", help="Service name (default: metadata.name of ./platform.yaml)."
    ),
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Print the deployment and return; do not follow it.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=1, help="Seconds to follow the rollout at most.")
]

app = typer.Typer(
    help=(
        "Deploy the service in the current directory, follow the rollout; promote, abort, "
        "roll back, history.\n\n"
        "Without a subcommand: validate ./platform.yaml (or score.yaml, or --file) locally "
        "(errors name file:line and the field; exit 1), then deploy the commit --ref resolves "
        "to (default HEAD) from the git checkout to --env (default dev). Uncommitted changes "
        "are not deployed (a warning says so); outside a git repository only a spec with "
        "build.package can be deployed. The rollout is followed until it succeeds (exit 0, "
        "URLs printed), pauses for `platform deploy promote` (exit 0, with the hint), or "
        "fails or is aborted (exit 1); exit 4 when a deployment of the service is already in "
        "flight. -o json prints the final deployment.\n\n"
        "Examples:\n\n"
        "  platform deploy                                   # ./platform.yaml → dev\n\n"
        "  platform deploy --env production --canary 10%\n\n"
        "  platform deploy --env staging --ref v1.2.0 --no-wait -o json\n\n"
        "  platform deploy promote --env production\n\n"
        "  platform deploy abort --env production\n\n"
        "  platform deploy rollback --env production --to 12\n\n"
        "  platform deploy history my-api --env production"
    ),
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode="markdown",
)


@app.callback(invoke_without_command=True)
def deploy(
    ctx: typer.Context,
    env: EnvOption = "dev",
    ref: Annotated[
        str | None,
        typer.Option("--ref", help="Git ref to deploy: branch, tag or sha (default HEAD)."),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option("--canary", help="Canary rollout starting at this weight: 10% (or 10)."),
    ] = None,
    strategy: Annotated[
        StrategyName | None,
        typer.Option("--strategy", help="rolling, canary or blue-green (default: the spec's)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="The spec (default ./platform.yaml or ./score.yaml)."),
    ] = None,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = 3600.0,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Deploy the service in the current directory to --env (default dev) and follow the
    rollout (the app's help text above says how; exit 0 only when it succeeded or paused)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        weight = _deploy_args.parse_canary(canary)
    except typer.BadParameter as e:
        e.param_hint = "'--canary'"
        raise
    spec = _deploy_local.find_spec(file)
    plan = _deploy_local.plan_deploy(
        spec,
        environment=env,
        ref=ref,
        canary=weight,
        strategy=strategy.value if strategy else None,
    )
    console = output.stderr()
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    with context.api_client() as client:
        created = client.post(f"{DEPLOY}/deployments", plan.body)
        console.print(_started_line(created), highlight=False)
        _follow_and_report(client, created, fmt, no_wait=no_wait, timeout=timeout)


def _started_line(d: dict[str, Any]) -> str:
    sha = f" at {str(d['sha'])[:7]}" if d.get("sha") else ""
    return (
        f"deployment [bold]{d['id']}[/]: {escape(str(d.get('service')))} → "
        f"{escape(str(d.get('environment')))} ({d.get('kind')}, {d.get('strategy')}{sha})"
    )


def _follow_and_report(
    client: PlatformClient,
    deployment: dict[str, Any],
    fmt: OutputFormat,
    *,
    no_wait: bool,
    timeout: float,
    after: int | None = None,
) -> None:
    """Follow (unless ``no_wait``), print the outcome and exit 1 unless succeeded/paused."""
    final = deployment
    if not no_wait:
        final = _deploy_view.follow(client, deployment, after=after, timeout=timeout)
    urls: dict[str, Any] = {}
    if final.get("state") in ("succeeded", "paused"):
        urls = _urls(client, str(final["service"]), str(final["environment"]))
    if fmt is not OutputFormat.table:
        output.emit(final, fmt)
    else:
        _print_outcome(final, urls, waited=not no_wait)
    if not no_wait and final.get("state") not in ("succeeded", "paused"):
        raise typer.Exit(1)


def _urls(client: PlatformClient, service: str, environment: str) -> dict[str, Any]:
    found = client.get(f"{DEPLOY}/services/{service}/status", {"environment": environment})
    for item in found or []:
        if item.get("environment") == environment and item.get("urls"):
            return dict(item["urls"])
    return {}


def _print_outcome(d: dict[str, Any], urls: dict[str, Any], *, waited: bool) -> None:
    console = output.stdout()
    state, env = str(d.get("state")), str(d.get("environment"))
    name = f"{escape(str(d.get('service')))} {d.get('version') or ''} in {escape(env)}"
    if not waited:
        console.print(f"deployment {d['id']}: {name} is {state}", highlight=False)
        console.print(f"  follow it with: platform deploy history --env {env}", highlight=False)
        return
    if state == "succeeded":
        console.print(f"[bold green]✔ {name} succeeded[/]", highlight=False)
    elif state == "paused":
        steps = d.get("steps") or []
        index = int(d.get("stepIndex") or 0)
        step = steps[index] if 0 <= index < len(steps) else None
        console.print(
            f"[bold cyan]⏸ {name} paused[/] at step {min(index + 1, len(steps))}/{len(steps)} "
            f"({_deploy_view.describe_step(step)})",
            highlight=False,
        )
    else:
        console.print(f"[bold red]✘ {name} {state}[/]: {escape(str(d.get('message')))}")
    for label in ("http", "https", "direct"):
        if urls.get(label):
            console.print(f"  {label + ':':8} {urls[label]}", highlight=False, markup=False)
    if state == "paused":
        console.print(f"  promote with: platform deploy promote --env {env}", markup=False)
        console.print(f"  or abort with: platform deploy abort --env {env}", markup=False)


@app.command("promote")
def promote(
    env: EnvOption = "dev",
    service: ServiceOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Skip the remaining steps: straight to 100%.")
    ] = False,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = 3600.0,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Promote the rollout in flight: past its pause to the next step (--full: to the end),
    then follow it like `platform deploy`. Exit 4 when nothing is in flight.

    Examples:

      platform deploy promote --env production

      platform deploy promote --env production --full
    """
    name = _deploy_local.default_service(service)
    with context.api_client() as client:
        moved = client.post(f"{DEPLOY}/services/{name}/environments/{env}/promote", {"full": full})
        seen = len(moved.get("transitions") or [])
        _follow_and_report(client, moved, fmt, no_wait=no_wait, timeout=timeout, after=seen)


@app.command("abort")
def abort(
    env: EnvOption = "dev",
    service: ServiceOption = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Abort the rollout in flight: traffic goes back to the stable version and the new one
    is stopped. Exit 4 when nothing is in flight.

    Example:

      platform deploy abort --env production
    """
    name = _deploy_local.default_service(service)
    with context.api_client() as client:
        aborted = client.post(f"{DEPLOY}/services/{name}/environments/{env}/abort")
    output.emit(aborted, fmt, _deploy_view.deployment_detail)


@app.command("rollback")
def rollback(
    env: EnvOption = "dev",
    service: ServiceOption = None,
    to: Annotated[
        int | None,
        typer.Option("--to", min=1, help="Deployment id to go back to (default: the previous)."),
    ] = None,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = 3600.0,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Roll back to an earlier release (kept on disk: no rebuild), as a new deployment, and
    follow it. Exit 3 for an unknown --to, 4 when there is nothing to roll back to.

    Examples:

      platform deploy rollback --env production

      platform deploy rollback --env production --to 12
    """
    name = _deploy_local.default_service(service)
    body = {"to": to} if to is not None else {}
    with context.api_client() as client:
        created = client.post(f"{DEPLOY}/services/{name}/environments/{env}/rollback", body)
        output.stderr().print(_started_line(created), highlight=False)
        _follow_and_report(client, created, fmt, no_wait=no_wait, timeout=timeout)


@app.command("history")
def history(
    service: Annotated[
        str | None,
        typer.Argument(help="Service (default: ./platform.yaml's; all services without one)."),
    ] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most N.")] = 20,
    before: Annotated[
        int | None, typer.Option("--before", min=1, help="Only ids below this (paging).")
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List deployments, newest first. -o json prints the deployments with their transitions.

    Examples:

      platform deploy history

      platform deploy history my-api --env production --limit 5 -o json
    """
    if service is None:
        try:
            service = _deploy_local.default_service(None)
        except InvalidInput:  # no spec here: every service
            service = None
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("service", service), ("environment", env), ("before", before)):
        if value is not None:
            params[key] = value
    with context.api_client() as client:
        found = client.get(f"{DEPLOY}/deployments", params)
    output.emit(found, fmt, _deploy_view.deployment_table)
