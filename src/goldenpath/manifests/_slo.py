"""SLO rule groups in Sloth's output shape: SLI recordings, metadata recordings, burn-rate alerts.

Follows what Sloth (https://sloth.dev, ``prometheus/v1`` spec, Kubernetes mode) generates for
one SLO with an events SLI: groups ``sloth-slo-sli-recordings-<id>``,
``sloth-slo-meta-recordings-<id>`` and ``sloth-slo-alerts-<id>``; recording rules
``slo:sli_error:ratio_rate<window>``, ``slo:objective:ratio``, ``slo:error_budget:ratio``,
``slo:time_period:days``, ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
``slo:period_error_budget_remaining:ratio`` and ``sloth_slo_info``; labels ``sloth_service``,
``sloth_slo``, ``sloth_id``, ``sloth_window``, ``sloth_severity``. The alerts are the
multi-window multi-burn-rate alerts of the Google SRE workbook (chapter "Alerting on SLOs"):
page at 14.4x over 1h/5m or 6x over 6h/30m, ticket at 3x over 1d/2h or 1x over 3d/6h, on a
30-day period.

Unlike Sloth, the numbers are exact decimals: the objective, the error budget and every
threshold are computed with :class:`decimal.Decimal` from the percent as written
(99.9 → 0.999, budget 0.001, page threshold 14.4 x 0.001 = 0.0144), so no float noise such as
``0.0009999999999999432`` reaches the rules. Pure, no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "BURN_RATE_ALERTS",
    "PERIOD_DAYS",
    "SLI_WINDOWS",
    "SLO_NAME",
    "BurnRateAlert",
    "Sli",
    "decimal_text",
    "error_budget",
    "objective_ratio",
    "slo_rule_groups",
]

SLO_NAME = "requests-availability"
"""The ``sloth_slo`` of the availability SLO every service with ``monitoring.slo`` gets."""

PERIOD_DAYS = 30
"""The SLO period (Sloth's default ``slo:time_period:days``)."""

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""The rate windows Sloth records for the alerts (the 30d period window is derived)."""


@dataclass(frozen=True)
class BurnRateAlert:
    """One multi-window condition: error ratio above ``factor`` x budget over both windows."""

    severity: str
    factor: Decimal
    long_window: str
    short_window: str


BURN_RATE_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert("page", Decimal("14.4"), "1h", "5m"),
    BurnRateAlert("page", Decimal("6"), "6h", "30m"),
    BurnRateAlert("ticket", Decimal("3"), "1d", "2h"),
    BurnRateAlert("ticket", Decimal("1"), "3d", "6h"),
)
"""The Google SRE workbook's recommended burn rates for a 30-day SLO (Sloth's defaults)."""


@dataclass(frozen=True)
class Sli:
    """An events SLI: PromQL for errors and for all events, ``{window}`` marks the range."""

    error_query: str
    total_query: str


def decimal_text(value: Decimal) -> str:
    """``value`` as a plain decimal literal PromQL accepts: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text


def objective_ratio(slo_percent: float) -> Decimal:
    """The objective as a ratio: ``99.9`` → ``Decimal("0.999")`` (from the percent as written).

    Raises:
        ValueError: the percent is not in the open interval (0, 100).
    """
    percent = Decimal(str(slo_percent))
    if not Decimal(0) < percent < Decimal(100):
        raise ValueError(f"an SLO is a percent between 0 and 100 (exclusive), got {slo_percent}")
    return percent / Decimal(100)


def error_budget(slo_percent: float) -> Decimal:
    """The error budget ratio: ``99.9`` → ``Decimal("0.001")``."""
    return Decimal(1) - objective_ratio(slo_percent)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _selector(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{_quote(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _sli_group(
    group_id: str, sli: Sli, ids: dict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for window in SLI_WINDOWS:
        errors = sli.error_query.replace("{window}", window)
        total = sli.total_query.replace("{window}", window)
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": f"({errors})\n/\n({total})\n",
                "labels": {**labels, **ids, "sloth_window": window},
            }
        )
    sel = _selector(ids)
    period = f"{PERIOD_DAYS}d"
    rules.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n"
                "/ ignoring (sloth_window)\n"
                f"count_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n"
            ),
            "labels": {**labels, **ids, "sloth_window": period},
        }
    )
    return {"name": f"sloth-slo-sli-recordings-{group_id}", "rules": rules}


def _meta_group(
    group_id: str, slo_percent: float, ids: dict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    sel = _selector(ids)
    common = {**labels, **ids}
    scope = [k for k in ids if not k.startswith("sloth_")]
    on = ", ".join(["sloth_id", "sloth_slo", "sloth_service", *scope])
    budget_join = f"/ on({on}) group_left\n"

    def rule(record: str, expr: str) -> dict[str, Any]:
        return {"record": record, "expr": expr, "labels": dict(common)}

    info = rule("sloth_slo_info", "vector(1)")
    info["labels"] = {
        **common,
        "sloth_mode": "goldenpath",
        "sloth_objective": decimal_text(Decimal(str(slo_percent))),
        "sloth_spec": "prometheus/v1",
    }
    return {
        "name": f"sloth-slo-meta-recordings-{group_id}",
        "rules": [
            rule("slo:objective:ratio", f"vector({decimal_text(objective_ratio(slo_percent))})"),
            rule("slo:error_budget:ratio", f"vector({decimal_text(error_budget(slo_percent))})"),
            rule("slo:time_period:days", f"vector({PERIOD_DAYS})"),
            rule(
                "slo:current_burn_rate:ratio",
                f"slo:sli_error:ratio_rate5m{sel}\n{budget_join}slo:error_budget:ratio{sel}\n",
            ),
            rule(
                "slo:period_burn_rate:ratio",
                f"slo:sli_error:ratio_rate{PERIOD_DAYS}d{sel}\n{budget_join}"
                f"slo:error_budget:ratio{sel}\n",
            ),
            rule(
                "slo:period_error_budget_remaining:ratio",
                f"1 - slo:period_burn_rate:ratio{sel}",
            ),
            info,
        ],
    }


def _condition(alert: BurnRateAlert, budget: Decimal, sel: str) -> str:
    threshold = decimal_text(alert.factor * budget)
    return (
        "(\n"
        f"    max(slo:sli_error:ratio_rate{alert.short_window}{sel} > {threshold})"
        " without (sloth_window)\n"
        "    and\n"
        f"    max(slo:sli_error:ratio_rate{alert.long_window}{sel} > {threshold})"
        " without (sloth_window)\n"
        ")"
    )


def _alert_group(
    group_id: str,
    alert_name: str,
    budget: Decimal,
    ids: dict[str, str],
    severity_labels: dict[str, dict[str, str]],
) -> dict[str, Any]:
    sel = _selector(ids)
    rules: list[dict[str, Any]] = []
    for severity in ("page", "ticket"):
        conditions = [
            _condition(a, budget, sel) for a in BURN_RATE_ALERTS if a.severity == severity
        ]
        rules.append(
            {
                "alert": alert_name,
                "expr": "\nor\n".join(conditions) + "\n",
                "labels": {**severity_labels.get(severity, {}), "sloth_severity": severity},
                "annotations": {
                    "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget"
                    " burn rate is over expected.",
                    "title": f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}}"
                    " SLO error budget burn rate is too fast.",
                },
            }
        )
    return {"name": f"sloth-slo-alerts-{group_id}", "rules": rules}


def slo_rule_groups(
    *,
    service: str,
    slo_percent: float,
    sli: Sli,
    alert_name: str | None,
    scope: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    severity_labels: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The Prometheus rule groups (``spec.groups`` of a PrometheusRule) for one SLO.

    Args:
        service: ``sloth_service`` (the workload name).
        slo_percent: the objective in percent, e.g. ``99.9``.
        sli: the events SLI (``{window}`` in both queries).
        alert_name: the name of both alerts (page and ticket, told apart by
            ``sloth_severity``); ``None`` = recording rules only, no alert group.
        scope: labels that tell this SLO's series apart from another copy of the same
            service (``{"namespace": …}`` when several environments share a Prometheus):
            set on every recording rule and added to every selector and ``on(…)`` match.
        labels: extra labels on every recording rule (Sloth's SLO ``labels``).
        severity_labels: extra labels per severity (``page``/``ticket``) on the alerts.

    Raises:
        ValueError: ``slo_percent`` is not within (0, 100).
    """
    budget = error_budget(slo_percent)
    ids = {
        "sloth_id": f"{service}-{SLO_NAME}",
        "sloth_service": service,
        "sloth_slo": SLO_NAME,
        **(scope or {}),
    }
    group_id = ids["sloth_id"]
    extra = dict(labels or {})
    groups = [
        _sli_group(group_id, sli, ids, extra),
        _meta_group(group_id, slo_percent, ids, extra),
    ]
    if alert_name is not None:
        groups.append(_alert_group(group_id, alert_name, budget, ids, severity_labels or {}))
    return groups
