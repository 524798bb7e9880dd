"""Observability objects: ServiceMonitor, Sloth-shaped SLO rules (exact thresholds), dashboard."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import kubernetes_validate
import pytest
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from goldenpath.manifests import observability
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.workload import workload_objects
from goldenpath.workloads import Workload, parse_workload

PROD = RenderTarget(environment="production", namespace="payments-prod", production=True)
DEV = RenderTarget(environment="dev", namespace="payments-dev")


def service(
    monitoring: str = "{alerts: true, dashboard: true, slo: 99.9}", extra: str = ""
) -> Workload:
    return parse_workload(
        f"""kind: Service
metadata: {{name: payment-api, team: payments, tier: critical}}
spec:
  language: python
  framework: fastapi
  monitoring: {monitoring}
{extra}""",
        source="payment-api/platform.yaml",
    )


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def alert_rules(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def thresholds(alert: dict[str, Any]) -> list[str]:
    return re.findall(r"> ([0-9.eE+-]+)\)", alert["expr"])


@pytest.mark.parametrize(
    ("slo", "page", "ticket"),
    [
        ("99.9", ["0.0144", "0.006"], ["0.003", "0.001"]),
        ("99.5", ["0.072", "0.03"], ["0.015", "0.005"]),
        ("99.99", ["0.00144", "0.0006"], ["0.0003", "0.0001"]),
        ("99.95", ["0.0072", "0.003"], ["0.0015", "0.0005"]),
        ("95", ["0.72", "0.3"], ["0.15", "0.05"]),
        ("99.999", ["0.000144", "0.00006"], ["0.00003", "0.00001"]),
    ],
)
def test_burn_rate_thresholds_are_exact_decimals(
    slo: str, page: list[str], ticket: list[str]
) -> None:
    rule = by_kind(observability.objects(service(f"{{slo: {slo}}}"), PROD))["PrometheusRule"]
    page_alert, ticket_alert = alert_rules(rule)
    # each condition compares the short and the long window with the same threshold
    assert thresholds(page_alert) == [page[0], page[0], page[1], page[1]]
    assert thresholds(ticket_alert) == [ticket[0], ticket[0], ticket[1], ticket[1]]
    budget = Decimal(1) - Decimal(slo) / 100
    for factor, text in zip(("14.4", "6", "3", "1"), [*page, *ticket], strict=True):
        assert Decimal(text) == Decimal(factor) * budget
    meta = {
        r["record"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r
    }
    assert Decimal(meta["slo:error_budget:ratio"][7:-1]) == budget
    assert Decimal(meta["slo:objective:ratio"][7:-1]) == Decimal(slo) / 100


def test_rules_are_named_and_labelled_like_sloth() -> None:
    rule = by_kind(observability.objects(service(), PROD))["PrometheusRule"]
    sid = "payment-api-requests-availability"
    groups = rule["spec"]["groups"]
    assert [g["name"] for g in groups] == [
        f"sloth-slo-sli-recordings-{sid}",
        f"sloth-slo-meta-recordings-{sid}",
        f"sloth-slo-alerts-{sid}",
    ]
    sli, meta, alerts = (g["rules"] for g in groups)
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
    assert [r["record"] for r in sli] == [f"slo:sli_error:ratio_rate{w}" for w in windows]
    assert [r["labels"]["sloth_window"] for r in sli] == windows
    assert [r["record"] for r in meta] == [
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:time_period:days",
        "slo:current_burn_rate:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
        "sloth_slo_info",
    ]
    for r in [*sli, *meta]:
        assert r["labels"]["sloth_id"] == sid
        assert r["labels"]["sloth_service"] == "payment-api"
        assert r["labels"]["sloth_slo"] == "requests-availability"
    assert meta[-1]["labels"]["sloth_objective"] == "99.9"
    assert meta[2]["expr"] == "vector(30)"
    assert [a["alert"] for a in alerts] == ["PaymentApiHighErrorRate"] * 2
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["page", "ticket"]

    def window_pairs(alert: dict[str, Any]) -> list[tuple[str, str]]:
        found = re.findall(r"slo:sli_error:ratio_rate(\w+)\{", alert["expr"])
        return list(zip(found[::2], found[1::2], strict=True))

    # Google SRE workbook / Sloth: page 14.4x over 1h+5m or 6x over 6h+30m; ticket 3x over
    # 1d+2h or 1x over 3d+6h
    assert window_pairs(alerts[0]) == [("5m", "1h"), ("30m", "6h")]
    assert window_pairs(alerts[1]) == [("2h", "1d"), ("6h", "3d")]
    assert alerts[0]["annotations"]["title"].startswith("(page) {{$labels.sloth_service}}")


def test_sli_is_the_5xx_ratio_of_the_golden_path_counter_without_probes() -> None:
    rule = by_kind(observability.objects(service(), PROD))["PrometheusRule"]
    five_minutes = rule["spec"]["groups"][0]["rules"][0]["expr"]
    errors, total = five_minutes.split("\n/\n")
    for part in (errors, total):
        assert 'http_requests_total{job="payment-api", namespace="payments-prod"' in part
        assert 'route!~"/healthz|/metrics|/readyz"' in part
        assert "[5m]" in part
    assert 'status=~"5.."' in errors
    assert "status" not in total


def test_page_alerts_are_critical_only_in_production() -> None:
    def severities(target: RenderTarget) -> list[str]:
        rule = by_kind(observability.objects(service(), target))["PrometheusRule"]
        return [a["labels"]["severity"] for a in alert_rules(rule)]

    assert severities(PROD) == ["critical", "warning"]
    assert severities(DEV) == ["warning", "warning"]


def test_monitoring_switches() -> None:
    no_slo = by_kind(observability.objects(service("{alerts: true, dashboard: true}"), PROD))
    assert sorted(no_slo) == ["ConfigMap", "ServiceMonitor"]
    no_alerts = by_kind(observability.objects(service("{alerts: false, slo: 99.9}"), PROD))
    rule = no_alerts["PrometheusRule"]
    assert alert_rules(rule) == []
    assert [g["name"] for g in rule["spec"]["groups"]][-1].startswith("sloth-slo-meta-")
    no_dashboard = by_kind(observability.objects(service("{dashboard: false, slo: 99}"), PROD))
    assert sorted(no_dashboard) == ["PrometheusRule", "ServiceMonitor"]


def test_environment_overrides_change_the_slo() -> None:
    w = service(extra="  environments:\n    production:\n      monitoring: {slo: 99.95}\n")
    prod = by_kind(observability.objects(w, PROD))["PrometheusRule"]
    dev = by_kind(observability.objects(w, DEV))["PrometheusRule"]
    assert thresholds(alert_rules(prod)[0])[0] == "0.0072"
    assert thresholds(alert_rules(dev)[0])[0] == "0.0144"


def test_service_monitor_scrapes_the_rendered_service() -> None:
    w = service()
    monitor = by_kind(observability.objects(w, PROD))["ServiceMonitor"]
    services = [o for o in workload_objects(w, PROD) if o["kind"] == "Service"]
    assert services
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["path"], endpoint["port"]) == ("/metrics", "http")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["payments-prod"]}
    for svc in services:
        labels = svc["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert "http" in [p["name"] for p in svc["spec"]["ports"]]
        assert labels[monitor["spec"]["jobLabel"]] == "payment-api"  # job="payment-api"
    assert monitor["metadata"]["labels"]["backstage.io/kubernetes-id"] == "payment-api"


def test_canary_services_share_one_job_and_service_label() -> None:
    w = service(extra="  deployment: {strategy: canary}\n")
    services = [o for o in workload_objects(w, PROD) if o["kind"] == "Service"]
    assert len(services) == 2  # stable + canary: both selected, deduplicated by relabeling
    monitor = by_kind(observability.objects(w, PROD))["ServiceMonitor"]
    relabel = monitor["spec"]["endpoints"][0]["relabelings"]
    assert relabel == [
        {"action": "replace", "targetLabel": "service", "replacement": "payment-api"}
    ]


def test_dashboard_config_map_for_the_grafana_sidecar() -> None:
    cm = by_kind(observability.objects(service(), PROD))["ConfigMap"]
    assert cm["metadata"]["name"] == "payment-api-dashboard"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "payments"}
    kubernetes_validate.validate(cm, PROD.kubernetes_version, strict=True)  # raises if invalid
    ((key, text),) = cm["data"].items()
    assert key == "payment-api.json"
    doc = json.loads(text)
    assert len(doc["uid"]) <= 40
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    assert any(
        'http_requests_total{job="payment-api", namespace="payments-prod"' in e for e in exprs
    )
    assert any("http_request_duration_seconds_bucket" in e for e in exprs)
    assert any(e.startswith("slo:period_error_budget_remaining:ratio{") for e in exprs)
    titles = [p["title"] for p in doc["panels"]]
    assert "SLO: 99.9% availability" in titles
    # the SDK reads it back as a Grafana dashboard
    register_default_plugins()
    assert DashboardModel.from_json(doc).title == "payment-api (payments-prod)"


def test_dashboard_without_slo_has_no_slo_panels_and_renders_stably() -> None:
    w = service("{slo: null}")
    first = by_kind(observability.objects(w, DEV))["ConfigMap"]
    second = by_kind(observability.objects(w, DEV))["ConfigMap"]
    assert first == second
    text = first["data"]["payment-api.json"]
    assert "slo:" not in text
    other_ns = by_kind(observability.objects(w, PROD))["ConfigMap"]["data"]["payment-api.json"]
    assert json.loads(other_ns)["uid"] != json.loads(text)["uid"]


def test_alert_names_are_pascal_case() -> None:
    assert observability.alert_name(service()) == "PaymentApiHighErrorRate"
