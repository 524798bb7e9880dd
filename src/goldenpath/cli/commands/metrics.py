"""``platform metrics``: DORA's four keys (+ rework rate) and the platform's own metrics.

Thin edges over ``/api/insights/v1``: ``dora`` (per service, team, system or organisation,
over a window, with a weekly trend), ``platform`` (time to first deploy, self-service rate,
golden-path adoption, MTTR) and ``import`` (deployment events from an outside CI/CD system).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from goldenpath.cli import context, output
from goldenpath.cli.commands._insights_view import duration, level_text, percent, sparkline
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput

__all__ = ["app"]

INSIGHTS = "/api/insights/v1"

app = typer.Typer(
    help=(
        "Outcome metrics: DORA's four keys and the platform's own metrics.\n\n"
        "Examples:\n\n"
        "  platform metrics dora --service petstore --window 30d\n\n"
        "  platform metrics dora --team group:default/team-a -o json\n\n"
        "  platform metrics platform\n\n"
        "  platform metrics import deployments.json"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

WindowOption = Annotated[
    str, typer.Option("--window", "-w", help="How far back: <n>d, <n>w or <n>h (90d, 12w, 24h).")
]


def _trend(report: dict[str, Any], key: str) -> str:
    return sparkline([week.get(key) for week in report.get("weekly") or []])


def _dora_view(report: dict[str, Any]) -> Table:
    freq = report["deploymentFrequency"]
    lead = report["leadTimeForChanges"]
    cfr = report["changeFailureRate"]
    restore = report["timeToRestore"]
    rework = report["reworkRate"]
    rows = [
        (
            "Deployment frequency",
            f"{freq['perDay']:.2f}/day ({freq['count']} deploys)",
            level_text(freq.get("level")),
            _trend(report, "deployments"),
        ),
        (
            "Lead time for changes",
            f"{duration(lead['medianSeconds'])} median ({lead['samples']} changes)",
            level_text(lead.get("level")),
            _trend(report, "leadTimeMedianSeconds"),
        ),
        (
            "Change failure rate",
            f"{percent(cfr['rate'])} ({cfr['failed']}/{cfr['total']})",
            level_text(cfr.get("level")),
            _trend(report, "changeFailureRate"),
        ),
        (
            "Time to restore",
            f"{duration(restore['medianSeconds'])} median ({restore['samples']} failures)",
            level_text(restore.get("level")),
            _trend(report, "timeToRestoreMedianSeconds"),
        ),
        (
            "Rework rate",
            f"{percent(rework['rate'])} ({rework['rework']}/{rework['total']})",
            "",
            _trend(report, "reworkRate"),
        ),
    ]
    window = report["window"]
    title = (
        f"DORA — {report['scope']}, {window['days']:g} days to {window['end'][:10]}: "
        f"overall {level_text(report.get('level'))}"
    )
    table = output.make_table(["METRIC", "VALUE", "LEVEL", "WEEKLY TREND"], rows, title=title)
    table.caption = f"{len(report.get('weekly') or [])} weeks, oldest left"
    return table


@app.command("dora")
def dora(
    service: Annotated[str | None, typer.Option("--service", "-s", help="A service.")] = None,
    team: Annotated[
        str | None, typer.Option("--team", "-t", help="A team (Group ref or name).")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="A system (System ref or name).")
    ] = None,
    window: WindowOption = "90d",
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """DORA's four keys — deployment frequency, lead time for changes, change failure rate,
    time to restore — plus rework rate, each with its performance level (elite, high, medium,
    low) and a weekly trend, for one service, team or system, or the whole organisation.
    -o json prints the report ({scope, window, deploymentFrequency, ..., weekly}).

    Examples:

      platform metrics dora

      platform metrics dora --service petstore --window 30d
    """
    params = {"service": service, "team": team, "system": system, "window": window}
    with context.api_client() as client:
        report = client.get(f"{INSIGHTS}/dora", {k: v for k, v in params.items() if v is not None})
    output.emit(report, fmt, _dora_view)


def _share(part: dict[str, Any] | None, num: str, den: str | None = None) -> str:
    """``12.5% (1/8)``: ``part[num]`` of ``part[den]`` (or of num + ``manual``)."""
    if not part:
        return "—"
    total = part.get(den) if den else (part.get(num) or 0) + (part.get("manual") or 0)
    return f"{percent(part.get('rate'))} ({part.get(num)}/{total})"


def _platform_view(doc: dict[str, Any]) -> Table:
    first = doc.get("timeToFirstDeploy") or {}
    per_dev = doc.get("timeToFirstDeployPerDeveloper") or {}
    adoption = doc.get("goldenPathAdoption") or {}
    rows = [
        ("Time to first deploy (median)", duration(first.get("medianSeconds"))),
        ("Time to first deploy per developer", duration(per_dev.get("medianSeconds"))),
        ("Self-service rate", _share(doc.get("selfServiceRate"), "automated")),
        ("Services from templates", _share(adoption, "fromTemplate", "total")),
        ("On the template's latest version", percent(adoption.get("latestRate"))),
        ("Using the standard pipeline", percent(adoption.get("pipelineRate"))),
        ("MTTR", duration(doc.get("mttrSeconds"))),
    ]
    return output.make_table(["METRIC", "VALUE"], rows, title="Platform metrics")


@app.command("platform")
def platform(window: WindowOption = "90d", fmt: OutputOption = OutputFormat.table) -> None:
    """The platform's own outcomes: time to first deploy (per service and per new developer),
    self-service rate, golden-path adoption (from templates, on the latest template version,
    on the standard pipeline) and MTTR.

    Example:

      platform metrics platform -o json
    """
    with context.api_client() as client:
        doc = client.get(f"{INSIGHTS}/platform", {"window": window})
    output.emit(doc, fmt, _platform_view)


def _read_events(file: Path) -> list[Any]:
    document = context.read_json_file(file)
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise InvalidInput(
            f'{file}: expected a JSON list of deployment events or {{"events": [...]}}'
        )
    return events


def _import_view(result: dict[str, Any]) -> Table:
    rows = [
        (e.get("index"), e.get("path") or e.get("field"), e.get("message"))
        for e in result.get("errors") or []
    ]
    title = f"{result.get('accepted', 0)} accepted, {result.get('duplicates', 0)} duplicates"
    return output.make_table(["INDEX", "FIELD", "ERROR"], rows, title=title)


@app.command("import")
def import_events(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON list of {id, service, environment, sha, committedAt?, finishedAt, "
            "status: success|failure, kind?}."
        ),
    ],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Import deployment events from an outside CI/CD system, so teams not yet deploying
    through the platform are measured too (5,000 per call; the same id twice is counted as a
    duplicate). Exit 1 when some events were rejected (each error names index and field).

    Example:

      platform metrics import deployments.json
    """
    events = _read_events(file)
    result: dict[str, Any] = {"accepted": 0, "duplicates": 0, "errors": []}
    with context.api_client() as client:
        for start in range(0, max(len(events), 1), 5000):
            part = client.post(f"{INSIGHTS}/deployments", {"events": events[start : start + 5000]})
            result["accepted"] += part.get("accepted", 0)
            result["duplicates"] += part.get("duplicates", 0)
            for error in part.get("errors") or []:
                if isinstance(error.get("index"), int):
                    error = {**error, "index": error["index"] + start}
                result["errors"].append(error)
    output.emit(result, fmt, _import_view)
    if result["errors"]:
        raise typer.Exit(1)
