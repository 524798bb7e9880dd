"""View models of the insights pages: DORA metric cards, platform metric rows, teams,
scorecard tables (pure functions over the insights service's documents)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from goldenpath.portal.charts import Chart, category_chart, dora_charts, format_value

__all__ = [
    "WINDOWS",
    "MetricCard",
    "dora_cards",
    "entity_page",
    "level_chart",
    "platform_rows",
    "team_ref",
]

#: the window choices of the pages' selector: (value, label)
WINDOWS: tuple[tuple[str, str], ...] = (
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("26w", "6 months"),
    ("365d", "1 year"),
)


@dataclass(frozen=True, slots=True)
class MetricCard:
    """One DORA key: its name, the value for people, the detail (samples), its level
    (``elite``…``low`` or None) and the weekly chart."""

    name: str
    value: str
    detail: str
    level: str | None
    chart: Chart


def dora_cards(report: Mapping[str, Any]) -> list[MetricCard]:
    """The five cards (four keys + rework rate) of a ``DoraReport.to_dict()``."""
    charts = dora_charts(report)
    freq, lead = report["deploymentFrequency"], report["leadTimeForChanges"]
    cfr, ttr, rework = report["changeFailureRate"], report["timeToRestore"], report["reworkRate"]
    per_day = freq.get("perDay")
    return [
        MetricCard(
            "Deployment frequency",
            "—" if per_day is None else f"{per_day:.2f} per day",
            f"{freq['count']} successful production deployments",
            freq.get("level"),
            charts["deployments"],
        ),
        MetricCard(
            "Lead time for changes",
            format_value(lead.get("medianSeconds"), "seconds"),
            f"median of {lead['samples']} changes, commit to production",
            lead.get("level"),
            charts["lead-time"],
        ),
        MetricCard(
            "Change failure rate",
            format_value(cfr.get("rate"), "ratio"),
            f"{cfr['failed']} of {cfr['total']} deployments failed or were undone",
            cfr.get("level"),
            charts["change-failure-rate"],
        ),
        MetricCard(
            "Time to restore",
            format_value(ttr.get("medianSeconds"), "seconds"),
            f"median of {ttr['samples']} failures",
            ttr.get("level"),
            charts["time-to-restore"],
        ),
        MetricCard(
            "Rework rate",
            format_value(rework.get("rate"), "ratio"),
            f"{rework['rework']} of {rework['total']} deployments were unplanned fixes",
            None,
            charts["rework-rate"],
        ),
    ]


def _share(part: Mapping[str, Any] | None, num: str, den: str | None = None) -> str:
    if not part:
        return "—"
    total = part.get(den) if den else (part.get(num) or 0) + (part.get("manual") or 0)
    return f"{format_value(part.get('rate'), 'ratio')} ({part.get(num)} of {total})"


def platform_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``[(metric, value, what it means)]`` of ``InsightsService.platform_metrics()``."""
    first = doc.get("timeToFirstDeploy") or {}
    per_dev = doc.get("timeToFirstDeployPerDeveloper") or {}
    adoption = doc.get("goldenPathAdoption") or {}
    return [
        (
            "Time to first deploy",
            format_value(first.get("medianSeconds"), "seconds"),
            "median, service created → first successful production deployment",
        ),
        (
            "Time to first deploy per developer",
            format_value(per_dev.get("medianSeconds"), "seconds"),
            "median, first sign-in or token → first deployment they triggered",
        ),
        (
            "Self-service rate",
            _share(doc.get("selfServiceRate"), "automated"),
            "infrastructure requests fulfilled without a human approval step",
        ),
        (
            "Services from templates",
            _share(adoption, "fromTemplate", "total"),
            "golden-path adoption",
        ),
        (
            "On the template's latest version",
            format_value(adoption.get("latestRate"), "ratio"),
            "of the services created from a template",
        ),
        (
            "Using the standard pipeline",
            format_value(adoption.get("pipelineRate"), "ratio"),
            "of all services",
        ),
        ("MTTR", format_value(doc.get("mttrSeconds"), "seconds"), "mean time to restore"),
    ]


def team_ref(namespace: str, name: str) -> str:
    """``group:<namespace>/<name>`` lower-cased (catalog refs are case-insensitive)."""
    return f"group:{namespace}/{name}".lower()


def level_chart(summary: Mapping[str, Any]) -> Chart:
    """A bar chart of one scorecard's entities per level (no level first)."""
    levels = dict(summary.get("levels") or {})
    labels = ["No level", *levels]
    values: list[float | None] = [float(summary.get("none", 0))]
    values += [float(v) for v in levels.values()]
    name = str(summary.get("scorecard"))
    title = str(summary.get("title") or name)
    return category_chart(
        f"levels-{name}",
        f"{title}: entities per level",
        labels,
        values,
        kind="bar",
        caption=f"How many of the {summary.get('total', 0)} entities hold each level of "
        f"{title} (the highest level held counts).",
        label_heading="Level",
    )


def entity_page(ref: str) -> str:
    """The portal page of ``kind:namespace/name`` (``/catalog/<ns>/<kind>/<name>``)."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.rpartition("/")
    return f"/catalog/{namespace or 'default'}/{kind}/{name}"


def rows_for(results: Sequence[Any], *, scorecard: str | None, level: str | None) -> list[Any]:
    """Results of ``scorecard`` (all when None) at ``level`` (``none`` = no level)."""
    found = []
    for result in results:
        if scorecard and result.scorecard != scorecard:
            continue
        held = result.level or "none"
        if level and held.lower() != level.lower():
            continue
        found.append(result)
    return found
