"""Weekly-trend charts of the insights pages: pygal SVG, inline, no JavaScript.

:func:`weekly_chart` turns one metric's weekly series into a :class:`Chart` that
``templates/_insights_chart.html`` shows as ``<figure>`` (the SVG, ``role="img"`` with an
``aria-label``) + ``<figcaption>`` + the same numbers as a table inside ``<details>`` (the
accessible fallback, and what screen readers and tests read). pygal's inline configuration
``<script>`` is removed: the charts are static pictures; the portal needs no script for them.

Units: ``count`` (plain numbers), ``seconds`` (plotted in hours, shown as ``1d 2h``),
``ratio`` (0..1, plotted and shown as percent), ``score`` (NPS, -100..100).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

__all__ = ["Chart", "Unit", "category_chart", "dora_charts", "format_value", "weekly_chart"]

Unit = Literal["count", "seconds", "ratio", "score"]

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#373c44",
    foreground_strong="#1d2127",
    foreground_subtle="#8891a4",
    colors=("#1e6bd6", "#c2410c", "#15803d", "#7c3aed"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    value_font_size=12,
    title_font_size=16,
)
_AXIS = {"count": "", "seconds": "hours", "ratio": "%", "score": "NPS"}


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered chart: ``svg`` (safe markup), ``title``, ``caption`` (one sentence saying
    what is plotted), ``rows`` (``[(label, formatted value)]``, the data table) and
    ``label_heading`` (the table's first column header)."""

    id: str
    title: str
    caption: str
    svg: Markup
    rows: tuple[tuple[str, str], ...]
    label_heading: str = ""


def format_value(value: float | None, unit: Unit) -> str:
    """``value`` for people: ``3``, ``1d 2h``, ``12.5%``, ``+40``; None → ``—``."""
    if value is None:
        return "—"
    if unit == "seconds":
        return _duration(value)
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "score":
        return f"{value:+.0f}"
    return f"{value:g}"


def _duration(seconds: float) -> str:
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _plotted(value: float | None, unit: Unit) -> float | None:
    if value is None:
        return None
    if unit == "seconds":
        return round(value / 3600, 2)
    if unit == "ratio":
        return round(value * 100, 1)
    return float(value)


def weekly_chart(
    id: str,
    title: str,
    weeks: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: Unit = "count",
    kind: Literal["line", "bar"] = "line",
    caption: str | None = None,
) -> Chart:
    """Render one weekly series.

    Args:
        id: a stable, page-unique id (``deployments``) — the figure's ``id``.
        title: the metric's name (the SVG's label and the table's header).
        weeks: ISO dates of the weeks' Mondays (or ISO datetimes; the date part is shown).
        values: one value per week in ``unit``; None where undefined (no samples) — a gap.
        unit: see the module docstring.
        kind: ``line`` for medians and rates, ``bar`` for counts.
        caption: the figcaption; default "<title> per week, <first> to <last>".
    """
    labels = [str(week)[:10] for week in weeks]
    span = f", {labels[0]} to {labels[-1]}" if labels else " (no weeks in the window)"
    return category_chart(
        id,
        title,
        labels,
        values,
        unit=unit,
        kind=kind,
        caption=caption or f"{title} per week{span}.",
        label_heading="Week of",
    )


def category_chart(
    id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: Unit = "count",
    kind: Literal["line", "bar"] = "bar",
    caption: str | None = None,
    label_heading: str = "",
) -> Chart:
    """Render one series over named categories (levels, weeks…); arguments as
    :func:`weekly_chart`, ``label_heading`` heads the data table's first column."""
    labels = [str(label) for label in labels]
    chart_type = pygal.Bar if kind == "bar" else pygal.Line
    chart = chart_type(
        style=_STYLE,
        width=640,
        height=260,
        show_legend=False,
        disable_xml_declaration=True,
        js=[],
        x_label_rotation=30 if len(labels) > 6 else 0,
        show_minor_x_labels=False,
        y_title=_AXIS[unit] or None,
        allow_interruptions=True,
        margin=8,
        include_x_axis=True,
    )
    chart.x_labels = labels
    chart.x_labels_major = labels[:: max(1, len(labels) // 8)]
    plotted = [_plotted(v, unit) for v in values]
    y_labels = _y_labels(plotted, unit)
    if y_labels is not None:
        chart.y_labels = y_labels
        chart.range = (y_labels[0], y_labels[-1])
    chart.add(title, plotted)
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    aria = f"{title}: chart; the data table follows"
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(aria)}" ', 1)
    return Chart(
        id=id,
        title=title,
        caption=caption or f"{title}.",
        svg=Markup(svg),  # pygal SVG: our numbers, escaped labels
        rows=tuple(
            (label, format_value(value, unit)) for label, value in zip(labels, values, strict=True)
        ),
        label_heading=label_heading,
    )


def _y_labels(plotted: Sequence[float | None], unit: Unit) -> list[float] | None:
    """Whole-number ticks for counts, the full -100..100 scale for NPS, 0..100 % for an
    all-zero rate; None = pygal's own."""
    if unit == "score":
        return [-100, -50, 0, 50, 100]
    top = max((v for v in plotted if v is not None), default=0.0)
    if unit == "ratio" and top <= 0:
        return [0, 25, 50, 75, 100]  # nothing failed: show the whole percent scale
    if unit != "count":
        return None
    step = max(1, math.ceil(top / 8))
    last = max(step, math.ceil(top / step) * step)
    return [float(n) for n in range(0, last + 1, step)]


#: (chart id, title, weekly key, unit, kind) of the DORA report's weekly trend
_DORA_SERIES: tuple[tuple[str, str, str, Unit, Literal["line", "bar"]], ...] = (
    ("deployments", "Deployments", "deployments", "count", "bar"),
    ("lead-time", "Lead time for changes (median)", "leadTimeMedianSeconds", "seconds", "line"),
    ("change-failure-rate", "Change failure rate", "changeFailureRate", "ratio", "line"),
    (
        "time-to-restore",
        "Time to restore (median)",
        "timeToRestoreMedianSeconds",
        "seconds",
        "line",
    ),
    ("rework-rate", "Rework rate", "reworkRate", "ratio", "line"),
)


def dora_charts(report: Mapping[str, Any]) -> dict[str, Chart]:
    """One weekly chart per DORA metric of a ``DoraReport.to_dict()``, by chart id:
    ``deployments``, ``lead-time``, ``change-failure-rate``, ``time-to-restore``,
    ``rework-rate``."""
    weekly = list(report.get("weekly") or [])
    weeks = [str(w.get("weekStart")) for w in weekly]
    return {
        id_: weekly_chart(id_, title, weeks, [w.get(key) for w in weekly], unit=unit, kind=kind)
        for id_, title, key, unit, kind in _DORA_SERIES
    }
