"""``platform status`` and ``platform logs``: what runs where, and what it printed.

Thin edges over ``GET /api/deploy/v1/services/{service}/status`` and
``GET /api/deploy/v1/services/{service}/environments/{env}/logs`` (followed over server-sent
events, resumed from the last line's time when the server ends the stream).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.client import PlatformClient
from goldenpath.cli.commands import _deploy_args, _deploy_local, _deploy_view
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput, Unavailable

__all__ = ["logs", "status"]

_RECONNECTS = 3


def status(
    service: Annotated[
        str | None, typer.Argument(help="Service (default: metadata.name of ./platform.yaml).")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only this environment (default: all).")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", "-a", help="Every deployed service (the overview).")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show a service per environment: versions, sha, replicas ready/desired, health, traffic
    weight, URL, and its recent deployments. With no service and no ./platform.yaml (or with
    --all), every deployed service: one line per service and environment. -o json prints
    [{service, environment, urls, weights, versions, recent}]. Exit 3 for an unknown service
    or environment.

    Examples:

      platform status                      # ./platform.yaml's service, else everything

      platform status my-api --env production -o json

      platform status --all --env dev
    """
    params = {"environment": env} if env else None
    name = None if every else _service_or_none(service)
    with context.api_client() as client:
        if name is None:
            found = client.get(f"{DEPLOY}/services", params)
            output.emit(found, fmt, _deploy_view.overview_view)
            return
        found = client.get(f"{DEPLOY}/services/{name}/status", params)
    output.emit(found, fmt, _deploy_view.status_view)


def _service_or_none(service: str | None) -> str | None:
    """The named service, else ./platform.yaml's; ``None`` when neither (the overview)."""
    if service:
        return service
    try:
        return _deploy_local.default_service(None)
    except InvalidInput:
        return None


def _print_line(line: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.table:
        at = str(line.get("at") or "")[:19].replace("T", " ")
        where = f"{line.get('version')}/r{line.get('replica')}"
        typer.echo(f"{at} {where} | {line.get('text', '')}")
    else:
        output.emit_json_line(line)


def logs(
    service: Annotated[
        str | None, typer.Argument(help="Service (default: metadata.name of ./platform.yaml).")
    ] = None,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment.")] = "dev",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only lines newer than this: 30s, 5m, 1h, 2d or a time."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=100_000, help="At most the last N lines.")
    ] = 1000,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Print a service's logs: every replica of every version, in time order, as
    `TIME VERSION/rREPLICA | text`. -o json prints one {at, version, replica, stream, text}
    per line.

    Examples:

      platform logs my-api --env production --since 1h

      platform logs my-api --follow
    """
    try:
        start = _deploy_args.parse_since(since)
    except typer.BadParameter as e:
        e.param_hint = "'--since'"
        raise
    name = _deploy_local.default_service(service)
    path = f"{DEPLOY}/services/{name}/environments/{env}/logs"
    params: dict[str, Any] = {"limit": limit}
    if start:
        params["since"] = start
    with context.api_client() as client:
        if not follow:
            for line in client.get(path, params):
                _print_line(line, fmt)
            return
        try:
            _follow_logs(client, path, params, fmt)
        except KeyboardInterrupt:
            return


def _follow_logs(
    client: PlatformClient, path: str, params: dict[str, Any], fmt: OutputFormat
) -> None:
    """Stream lines forever, resuming after the last line seen when a stream ends."""
    last: str | None = None
    sent: set[tuple[Any, ...]] = set()
    failures = 0
    while True:
        query = {**params, "follow": "true", **({"since": last} if last else {})}
        try:
            for message in client.stream_events(path, query):
                line = message.data if isinstance(message.data, dict) else {}
                key = (line.get("version"), line.get("replica"), line.get("text"))
                if line.get("at") == last and key in sent:
                    continue  # the resumed stream starts at the last line's time
                if line.get("at") != last:
                    last, sent = line.get("at"), set()
                sent.add(key)
                _print_line(line, fmt)
            failures = 0
        except Unavailable:
            failures += 1
            if failures >= _RECONNECTS:
                raise
            time.sleep(0.5 * failures)
