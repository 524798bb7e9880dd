"""A service's Grafana dashboard (RED metrics + SLO), built with grafana-foundation-sdk.

The panels read the golden-path services' metrics (``http_requests_total{method,route,status}``
and the ``http_request_duration_seconds`` histogram, see the python-service and node-service
skeletons) and, when the service has an SLO, the Sloth-shaped recording rules of
:mod:`goldenpath.manifests._slo`. The Prometheus data source is a dashboard variable
(``$datasource``) so one JSON works in every Grafana. Output is deterministic JSON (sorted
keys) so an unchanged workload renders byte-identical dashboards. Pure, no IO.

The SDK version in use decides the Grafana schema generation: the ``…!10.1.0`` build targets
Grafana 10.1, the ``…!11.x`` builds Grafana 11; only builder calls common to both are used.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import stat as gstat
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

__all__ = ["dashboard_json", "dashboard_uid"]

_DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")


def dashboard_uid(service: str, namespace: str) -> str:
    """A stable Grafana uid (≤ 40 characters, Grafana's limit) for a service in a namespace."""
    digest = hashlib.sha256(f"{namespace}/{service}".encode()).hexdigest()[:10]
    return f"gp-{service[:26]}-{digest}"


def _query(expr: str, legend: str, ref: str) -> gp.Dataquery:
    return gp.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(_DS)


def _timeseries(title: str, unit: str, queries: list[gp.Dataquery]) -> gts.Panel:
    panel = (
        gts.Panel()
        .title(title)
        .unit(unit)
        .min(0)
        .datasource(_DS)
        .height(8)
        .span(12)
        .legend(
            gc.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(gc.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def _stat(title: str, unit: str, query: gp.Dataquery) -> gstat.Panel:
    return (
        gstat.Panel()
        .title(title)
        .unit(unit)
        .datasource(_DS)
        .height(5)
        .span(6)
        .reduce_options(gc.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(cm.BigValueGraphMode.AREA)
        .color_mode(cm.BigValueColorMode.VALUE)
        .with_target(query)
    )


@lru_cache(maxsize=4096)
def dashboard_json(
    service: str, namespace: str, team: str | None, slo: str | None, ignore_routes: str
) -> str:
    """The dashboard JSON (sorted keys) for ``service`` in ``namespace``.

    Args:
        service: the workload name (Prometheus ``job``; Service name the ServiceMonitor scrapes).
        namespace: the Kubernetes namespace (Prometheus ``namespace`` label).
        team: added to the tags when set.
        slo: the objective in percent as text (``"99.9"``) → an SLO row; ``None`` = no SLO row.
        ignore_routes: a PromQL regex of routes left out of the RED panels (probes, /metrics).
    """
    sel = f'job="{service}", namespace="{namespace}", route!~"{ignore_routes}"'
    tags = ["goldenpath", service] + ([f"team:{team}"] if team else [])
    builder = (
        gd.Dashboard(f"{service} ({namespace})")
        .uid(dashboard_uid(service, namespace))
        .tags(tags)
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_row(gd.Row("Requests (RED)"))
        .with_panel(
            _timeseries(
                "Request rate by status",
                "reqps",
                [
                    _query(
                        f"sum by (status) (rate(http_requests_total{{{sel}}}[$__rate_interval]))",
                        "{{status}}",
                        "A",
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Error ratio (5xx)",
                "percentunit",
                [
                    _query(
                        f'sum(rate(http_requests_total{{{sel}, status=~"5.."}}[$__rate_interval]))'
                        f" / sum(rate(http_requests_total{{{sel}}}[$__rate_interval]))",
                        "errors",
                        "A",
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Latency",
                "s",
                [
                    _query(
                        f"histogram_quantile({q}, sum by (le) (rate("
                        f"http_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))",
                        f"p{q[2:]}",
                        ref,
                    )
                    for q, ref in (("0.50", "A"), ("0.90", "B"), ("0.99", "C"))
                ],
            )
        )
    )
    if slo is not None:
        ids = f'sloth_service="{service}", namespace="{namespace}"'
        builder = (
            builder.with_row(gd.Row(f"SLO: {slo}% availability"))
            .with_panel(
                _stat("Objective", "percentunit", _query(f"slo:objective:ratio{{{ids}}}", "", "A"))
            )
            .with_panel(
                _stat(
                    "Error budget remaining (30d)",
                    "percentunit",
                    _query(f"slo:period_error_budget_remaining:ratio{{{ids}}}", "", "A"),
                )
            )
            .with_panel(
                _stat(
                    "Current burn rate",
                    "none",
                    _query(f"slo:current_burn_rate:ratio{{{ids}}}", "", "A"),
                )
            )
            .with_panel(
                _stat(
                    "Burn rate (30d)",
                    "none",
                    _query(f"slo:period_burn_rate:ratio{{{ids}}}", "", "A"),
                )
            )
        )
    return str(JSONEncoder(sort_keys=True, separators=(",", ":")).encode(builder.build()))
