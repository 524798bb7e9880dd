"""``platform incident``: open, resolve, list and show incidents (DORA's failures).

Thin edges over ``/api/insights/v1/incidents``. Incidents are also opened automatically for
production rollbacks and failed canaries, and by Alertmanager through the webhook; an
incident's root cause (a deployment id or a commit sha) marks that deployment as a failed
change for the change failure rate, and its resolution time feeds time to restore.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from goldenpath.cli import context, output
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

INCIDENTS = "/api/insights/v1/incidents"
_SEVERITIES = ("sev1", "sev2", "sev3", "sev4")

app = typer.Typer(
    help=(
        "Incidents: what broke, which deployment caused it, when it was restored.\n\n"
        "Examples:\n\n"
        "  platform incident open 'checkout returns 500' --service petstore --root-cause 42\n\n"
        "  platform incident ls --state open\n\n"
        "  platform incident resolve 7"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _root_cause(incident: dict[str, Any]) -> str:
    cause = incident.get("rootCause") or {}
    parts = []
    if cause.get("deploymentId") is not None:
        parts.append(f"deployment {cause['deploymentId']}")
    if cause.get("sha"):
        parts.append(str(cause["sha"])[:12])
    return ", ".join(parts)


def _row(i: dict[str, Any]) -> tuple[Any, ...]:
    return (
        i["id"],
        i["state"],
        i.get("severity"),
        i.get("service"),
        i["title"],
        _root_cause(i),
        i.get("source"),
        i.get("openedAt"),
        i.get("resolvedAt"),
    )


_COLUMNS = ["ID", "STATE", "SEV", "SERVICE", "TITLE", "ROOT CAUSE", "SOURCE", "OPENED", "RESOLVED"]


def _list_view(found: list[dict[str, Any]]) -> Table:
    return output.make_table(_COLUMNS, [_row(i) for i in found])


def _one_view(incident: dict[str, Any]) -> Table:
    rows = [
        ("id", incident["id"]),
        ("title", incident["title"]),
        ("state", incident["state"]),
        ("severity", incident.get("severity")),
        ("service", incident.get("service")),
        ("root cause", _root_cause(incident)),
        ("source", incident.get("source")),
        ("opened", f"{incident.get('openedAt')} by {incident.get('openedBy')}"),
        (
            "resolved",
            f"{incident['resolvedAt']} by {incident.get('resolvedBy')}"
            if incident.get("resolvedAt")
            else "",
        ),
    ]
    return output.make_table(["FIELD", "VALUE"], rows, title=f"incident {incident['id']}")


def _severity(value: str) -> str:
    if value not in _SEVERITIES:
        raise typer.BadParameter(f"use one of {', '.join(_SEVERITIES)}", param_hint="'--severity'")
    return value


@app.command("open")
def open_(
    title: Annotated[str, typer.Argument(help="What is broken, in a sentence.")],
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Affected service.")
    ] = None,
    severity: Annotated[
        str, typer.Option("--severity", help="sev1 (worst) … sev4.", callback=_severity)
    ] = "sev2",
    root_cause: Annotated[
        str | None,
        typer.Option("--root-cause", "-r", help="The deployment id or commit sha that caused it."),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Open an incident; with --root-cause the deployment (id) or commit (sha) that caused it
    counts as a failed change. Prints the incident (-o json: {id, title, service, severity,
    state, source, rootCause, openedAt, ...}).

    Example:

      platform incident open 'checkout returns 500' --service petstore --root-cause 42
    """
    body: dict[str, Any] = {"title": title, "severity": severity}
    if service:
        body["service"] = service
    if root_cause:
        body["rootCause"] = root_cause
    with context.api_client() as client:
        incident = client.post(INCIDENTS, body)
    output.emit(incident, fmt, _one_view)


@app.command("resolve")
def resolve(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Mark an incident resolved (the service is restored). Exit 4 when it already is.

    Example:

      platform incident resolve 7
    """
    with context.api_client() as client:
        incident = client.post(f"{INCIDENTS}/{incident_id}/resolve")
    output.emit(incident, fmt, _one_view)


@app.command("ls")
def ls(
    state: Annotated[
        str | None, typer.Option("--state", help="open or resolved (default: both).")
    ] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="One service.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List incidents, newest first.

    Example:

      platform incident ls --state open -o json
    """
    if state is not None and state not in ("open", "resolved"):
        raise typer.BadParameter("use open or resolved", param_hint="'--state'")
    params = {"state": state, "service": service, "limit": limit}
    with context.api_client() as client:
        found = client.get(INCIDENTS, {k: v for k, v in params.items() if v is not None})
    output.emit(found, fmt, _list_view)


@app.command("show")
def show(
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show one incident. Exit 3 when unknown.

    Example:

      platform incident show 7
    """
    with context.api_client() as client:
        incident = client.get(f"{INCIDENTS}/{incident_id}")
    output.emit(incident, fmt, _one_view)
