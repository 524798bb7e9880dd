"""``platform scorecard``, ``platform maturity`` and ``platform survey``.

Thin edges over ``/api/insights/v1``: scorecard levels per service (Bronze/Silver/Gold, each
held only when every enforced rule of it and the levels below pass), the organisation's
maturity stage (Ad hoc → Standardized → Self-service → Optimized → Product) and the
developer-satisfaction survey (NPS question + comment).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from goldenpath.cli import context, output
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["entity_ref", "maturity", "scorecard", "survey"]

INSIGHTS = "/api/insights/v1"


def entity_ref(service: str) -> str:
    """``petstore`` → ``component:default/petstore``; a full or ``ns/name`` ref kept as kind
    component."""
    if ":" in service:
        return service
    return f"component:{service}" if "/" in service else f"component:default/{service}"


def _mark(passed: bool) -> str:
    return "[green]✓ pass[/]" if passed else "[red]✗ fail[/]"


def _rule_state(rule: dict[str, Any]) -> str:
    if not rule.get("enforced", True):
        return f"[dim]from {rule.get('effectiveFrom')}[/] " + ("✓" if rule["passed"] else "✗")
    return _mark(bool(rule["passed"]))


def _entity_view(results: list[dict[str, Any]]) -> Group:
    tables = []
    for result in results:
        rows = [
            (level["name"], rule.get("title") or rule["id"], _rule_state(rule), rule.get("message"))
            for level in result.get("levels") or []
            for rule in level.get("rules") or []
        ]
        title = (
            f"{result['entityRef']} — {result['scorecard']}: "
            f"{result.get('level') or 'no level'}"
            + (f" (next: {result['nextLevel']})" if result.get("nextLevel") else "")
        )
        tables.append(output.make_table(["LEVEL", "RULE", "RESULT", "DETAIL"], rows, title=title))
    return Group(*tables)


def _summary_view(doc: dict[str, Any]) -> Group:
    summaries = doc["summary"]
    parts: list[Table] = []
    for summary in summaries if isinstance(summaries, list) else [summaries]:
        levels = summary.get("levels") or {}
        rows = [(name, count) for name, count in levels.items()]
        rows.append(("no level", summary.get("none", 0)))
        title = f"{summary.get('scorecard')}: {summary.get('total', 0)} entities"
        parts.append(output.make_table(["LEVEL", "ENTITIES"], rows, title=title))
    entity_rows = [
        (
            r["entityRef"],
            r["scorecard"],
            r.get("level") or "—",
            r.get("nextLevel") or "",
            "; ".join(r.get("missing") or [])[:120],
        )
        for r in doc["results"]
    ]
    columns = ["ENTITY", "SCORECARD", "LEVEL", "NEXT", "MISSING"]
    parts.append(output.make_table(columns, entity_rows))
    return Group(*parts)


def scorecard(
    service: Annotated[
        str | None,
        typer.Argument(help="A service name or entity ref (default: every Component)."),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Scorecard levels: for one service every rule of every level with pass/fail (scheduled
    rules show their start date); without a service the entities per level and each
    service's level and what it misses for the next. -o json prints [{entityRef, scorecard,
    level, levels, nextLevel, missing}] for a service, {summary, results} otherwise.

    Examples:

      platform scorecard petstore

      platform scorecard -o json
    """
    with context.api_client() as client:
        if service is not None:
            results = client.get(f"{INSIGHTS}/scorecards", {"entityRef": entity_ref(service)})
            output.emit(results, fmt, _entity_view)
            return
        doc = {
            "summary": client.get(f"{INSIGHTS}/scorecards/summary"),
            "results": client.get(f"{INSIGHTS}/scorecards"),
        }
    output.emit(doc, fmt, _summary_view)


def _maturity_view(doc: dict[str, Any]) -> Table:
    rows = [
        (
            "[green]✓[/]" if stage.get("reached") else "[red]✗[/]",
            stage["name"],
            "; ".join(stage.get("evidence") or []),
            "; ".join(stage.get("missing") or []),
        )
        for stage in doc.get("stages") or []
    ]
    title = f"Platform maturity: level {doc.get('level')} — {doc.get('levelName')}"
    table = output.make_table(["", "STAGE", "EVIDENCE", "MISSING"], rows, title=title)
    upcoming = doc.get("next") or {}
    if upcoming:
        table.caption = f"next: {upcoming.get('name')} — needs " + "; ".join(
            upcoming.get("missing") or []
        )
    return table


def maturity(fmt: OutputOption = OutputFormat.table) -> None:
    """The organisation's platform maturity (Ad hoc → Standardized → Self-service →
    Optimized → Product): the stage reached, the evidence, and what the next stage needs.

    Example:

      platform maturity -o json
    """
    with context.api_client() as client:
        doc = client.get(f"{INSIGHTS}/maturity")
    output.emit(doc, fmt, _maturity_view)


def _survey_view(doc: dict[str, Any]) -> Table:
    rows = [
        (
            w.get("weekStart"),
            w.get("responses"),
            w.get("nps") if w.get("nps") is not None else "—",
        )
        for w in doc.get("weekly") or []
    ]
    title = f"NPS {doc.get('nps') if doc.get('nps') is not None else '—'} " + (
        f"({doc.get('responses', 0)} answers: {doc.get('promoters', 0)} promoters, "
        f"{doc.get('passives', 0)} passives, {doc.get('detractors', 0)} detractors)"
    )
    return output.make_table(["WEEK", "ANSWERS", "NPS"], rows, title=title)


def survey(
    score: Annotated[
        int | None,
        typer.Option(
            "--score",
            min=0,
            max=10,
            help="How likely are you to recommend the platform to a colleague? 0-10.",
        ),
    ] = None,
    comment: Annotated[
        str | None, typer.Option("--comment", "-m", help="Anything else (≤ 2,000 chars).")
    ] = None,
    window: Annotated[
        str, typer.Option("--window", "-w", help="Results over <n>d, <n>w or <n>h.")
    ] = "90d",
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Answer the developer-satisfaction survey (--score 0-10 and an optional comment), then
    print the results: NPS (% promoters 9-10 minus % detractors 0-6), overall and per week.
    Without --score, only the results.

    Examples:

      platform survey --score 9 --comment 'deploys are fast now'

      platform survey -o json
    """
    with context.api_client() as client:
        if score is not None:
            client.post(f"{INSIGHTS}/survey", {"score": score, "comment": comment})
            output.stderr().print("thanks — answer recorded")
        results = client.get(f"{INSIGHTS}/survey", {"window": window})
    output.emit(results, fmt, _survey_view)
