"""render_service: workload + observability + extra + database objects, in apply order."""

from __future__ import annotations

from goldenpath.manifests.render import KIND_ORDER, render_service, sort_objects
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import validate
from goldenpath.workloads import parse_workload

SPEC = """\
kind: Service
metadata: {name: billing, team: money}
spec:
  language: python
  framework: fastapi
  runtime: {replicas: 2}
  database: {type: postgres, size: small}
  monitoring: {alerts: true, dashboard: true, slo: 99.9}
  environments:
    production:
      database: {size: large}
"""


def test_render_service_joins_every_part_sorted_like_kustomize() -> None:
    workload = parse_workload(SPEC, source="billing/platform.yaml")
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aaa-extra"}}
    target = RenderTarget(environment="production", namespace="prod", production=True)
    objects = render_service(workload, target, extra=[extra])
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert names[0] == ("ServiceAccount", "billing")
    assert ("ConfigMap", "aaa-extra") in names
    assert ("ServiceMonitor", "billing") in names  # goldenpath.manifests.observability
    assert any(kind == "PrometheusRule" for kind, _ in names)
    # the database from the resources' Kubernetes composition, production override applied
    cluster = next(o for o in objects if o["kind"] == "Cluster")
    assert cluster["metadata"]["name"] == "billing-db"
    assert cluster["metadata"]["namespace"] == "prod"
    assert cluster["spec"]["instances"] == 3  # size large
    ranked = [KIND_ORDER.index(k) for k, _ in names if k in KIND_ORDER]
    assert ranked == sorted(ranked)
    # unlisted kinds come after the listed ones, by kind then name
    others = [(k, n) for k, n in names if k not in KIND_ORDER]
    assert others == sorted(others)
    assert names.index(("Deployment", "billing")) < names.index(others[0])
    assert validate(objects, kubernetes_version="1.30") == []


def test_sort_is_stable_and_puts_webhooks_last() -> None:
    objs = [
        {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "a"}},
        {"kind": "Service", "metadata": {"name": "b"}},
        {"kind": "Namespace", "metadata": {"name": "z"}},
        {"kind": "Rollout", "metadata": {"name": "a"}},
        {"kind": "Service", "metadata": {"name": "a"}},
    ]
    assert [(o["kind"], o["metadata"]["name"]) for o in sort_objects(objs)] == [
        ("Namespace", "z"),
        ("Service", "a"),
        ("Service", "b"),
        ("Rollout", "a"),
        ("ValidatingWebhookConfiguration", "a"),
    ]
