"""A published package is someone else's app: its probes default to TCP, not /readyz."""

from __future__ import annotations

from goldenpath.workloads import parse_workload

PACKAGE = """\
kind: Service
metadata: {name: datasette}
spec:
  build: {package: datasette}
  run:
    command: datasette serve --port $PORT
"""


def test_package_builds_probe_the_port_unless_run_names_paths() -> None:
    workload = parse_workload(PACKAGE, source="platform.yaml")
    assert workload.build.kind == "package"
    assert workload.readiness.path is None and workload.liveness.path is None

    explicit = parse_workload(PACKAGE + "    readiness: /-/versions.json\n", source="platform.yaml")
    assert explicit.readiness.path == "/-/versions.json" and explicit.liveness.path is None


def test_source_builds_keep_the_golden_path_probes() -> None:
    text = "kind: Service\nmetadata: {name: api}\nspec: {language: python, framework: fastapi}\n"
    workload = parse_workload(text, source="platform.yaml")
    assert (workload.readiness.path, workload.liveness.path) == ("/readyz", "/healthz")
