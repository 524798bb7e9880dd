"""Schema validation: every error, strict mode, version selection, custom resources skipped."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from goldenpath.errors import InvalidInput
from goldenpath.manifests import validate as validation
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import schema_version, supported_versions, validate
from goldenpath.manifests.workload import workload_objects
from goldenpath.workloads import parse_workload

SPEC = """\
kind: Service
metadata: {name: orders, team: shop}
spec:
  language: python
  framework: fastapi
  runtime: {replicas: 2, cpu: 250m, memory: 256Mi}
"""


def _objects() -> list[dict[str, Any]]:
    workload = parse_workload(SPEC, source="orders/platform.yaml")
    return workload_objects(workload, RenderTarget(environment="dev", namespace="dev"))


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def test_rendered_objects_are_valid_for_every_supported_version_from_1_28() -> None:
    objects = _objects()
    for version in [v for v in supported_versions() if tuple(map(int, v.split("."))) >= (1, 28)]:
        assert validate(objects, kubernetes_version=version) == [], version


def test_every_error_is_reported_with_kind_name_and_path() -> None:
    objects = _objects()
    deployment = _deployment(objects)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["containerPort"] = "eighty"
    container["stdin"] = "yes"
    deployment["spec"]["replicaz"] = 3  # strict: unknown fields are errors
    service = next(o for o in objects if o["kind"] == "Service")
    del service["spec"]["ports"][0]["port"]
    errors = validate(objects, kubernetes_version="1.30")
    assert len(errors) == 4, errors
    joined = "\n".join(errors)
    assert "Deployment/orders: spec.template.spec.containers[0].ports[0].containerPort: " in joined
    assert "Deployment/orders: spec.template.spec.containers[0].stdin: 'yes' is not of" in joined
    assert "Deployment/orders: spec: Additional properties are not allowed ('replicaz'" in joined
    assert "Service/orders: spec.ports[0]: 'port' is a required property" in joined


def test_custom_resources_are_skipped_and_unserved_builtins_are_errors() -> None:
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "x"}}
    rollout["spec"] = {"anything": "goes"}
    assert validate([rollout], kubernetes_version="1.30") == []
    old = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "web"}}
    (error,) = validate([old], kubernetes_version="1.30")
    assert error.startswith("Ingress/web: apiVersion: ")
    (error,) = validate([{"metadata": {"name": "y"}}], kubernetes_version="1.30")
    assert "apiVersion and kind are required" in error


def test_versions_pick_the_newest_schema_not_newer_and_reject_garbage() -> None:
    newest = supported_versions()[-1]
    assert schema_version("1.30") == "1.30"
    assert schema_version("v1.30.4") == "1.30"
    assert schema_version("1.99") == newest
    with pytest.raises(InvalidInput, match="older than every schema"):
        schema_version("1.2")
    with pytest.raises(InvalidInput, match="not a version"):
        validate([], kubernetes_version="latest")


def test_fast_check_agrees_with_jsonschema_on_mutations() -> None:
    """The compiled check must never accept what jsonschema rejects (and vice versa here)."""
    base = _deployment(_objects())
    mutations = [
        ("spec", "replicas", "3"),
        ("spec", "replicas", True),
        ("spec", "replicas", 2.0),  # JSON Schema: 2.0 is an integer
        ("spec", "selector", None),
        ("spec", "minReadySeconds", None),
        ("spec", "strategy", {"type": "Recreate", "extra": 1}),
        ("metadata", "labels", {"a": 1}),
        ("spec", "template", {"spec": {"containers": [{"name": "x", "ports": [{}]}]}}),
        ("spec", "template", {"spec": {"containers": [{"name": "x", "stdin": "yes"}]}}),
        ("spec", "revisionHistoryLimit", 1.5),
    ]
    found = validation._validator("1.30", "deployment-apps-v1.json")
    assert found is not None
    fast, validator = found
    assert fast is not None
    assert fast(base) and validator.is_valid(base)
    for section, key, value in mutations:
        obj = copy.deepcopy(base)
        obj[section][key] = value
        assert fast(obj) == validator.is_valid(obj), (section, key, value)
    wrong_group = {**base, "apiVersion": "apps/v2"}  # enum on apiVersion
    assert not fast(wrong_group) and not validator.is_valid(wrong_group)
