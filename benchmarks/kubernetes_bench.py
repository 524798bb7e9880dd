"""Kubernetes rendering benchmark: render + validate N workloads x 3 environments.

Issue 6 target: 1,000 workloads x (dev, staging, production) rendered with
:func:`goldenpath.manifests.render.render_service` and schema-validated (strict) with
:func:`goldenpath.manifests.validate.validate` in <= 10 s on this machine.

The workloads are real-shaped ``platform.yaml`` services, parsed before the clock starts:
a third canary (Argo Rollout + AnalysisTemplate), half with a postgres database
(CloudNativePG Cluster), SLO monitoring (ServiceMonitor, PrometheusRule, dashboard
ConfigMap), secrets (ExternalSecret), ``${resources.db.*}`` placeholders and a production
override. The clock includes everything after parsing, also compiling the schemas on first
use (one process, cold). Prints the total, the per-render p50/p99 and where the time goes.

    .venv/bin/python benchmarks/kubernetes_bench.py [--workloads 1000] [--kubernetes-version 1.30]
"""

from __future__ import annotations

import argparse
import os
import platform as host_platform
import statistics
import sys
import time

from goldenpath.manifests.render import render_service
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import validate
from goldenpath.workloads import Workload, parse_workload

TARGET_SECONDS = 10.0
ENVIRONMENTS = ("dev", "staging", "production")

_SPEC = """\
kind: Service
metadata: {{name: svc-{i:04d}, team: team-{team}, tier: standard}}
spec:
  language: python
  run:
    command: ["gunicorn", "app:app", "--bind", "127.0.0.1:$PORT"]
    port: {port}
    readiness: /readyz
    liveness: /healthz
    env:
      LOG_LEVEL: info
{env}  runtime: {{replicas: {replicas}, cpu: "250m", memory: "256Mi"}}
{database}  monitoring: {{alerts: true, dashboard: true, slo: 99.9}}
  dependencies: [svc-{dep:04d}]
  deployment:
    strategy: {strategy}
{steps}  environments:
    production:
      runtime: {{replicas: {prod_replicas}}}
"""
_STEPS = """\
    steps:
      - setWeight: 10
      - analysis: {interval: 30s, count: 3}
      - setWeight: 50
      - pause: {}
"""


def workloads(n: int) -> list[Workload]:
    """``n`` parsed workloads (see the module docstring for the mix)."""
    found = []
    for i in range(n):
        db = i % 2 == 0
        text = _SPEC.format(
            i=i,
            team=i % 17,
            port=8000 + i % 50,
            env='      DATABASE_DSN: "${resources.db.url}"\n' if db else "",
            replicas=1 + i % 3,
            database="  database: {type: postgres, size: small}\n" if db else "",
            dep=(i + 1) % n,
            strategy="canary" if i % 3 == 0 else "rolling",
            steps=_STEPS if i % 3 == 0 else "",
            prod_replicas=3 + i % 3,
        )
        found.append(parse_workload(text, source=f"svc-{i:04d}/platform.yaml"))
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--kubernetes-version", default="1.30")
    args = parser.parse_args(argv)
    items = workloads(args.workloads)
    targets = [
        RenderTarget(
            environment=env,
            namespace=f"apps-{env}",
            production=env == "production",
            kubernetes_version=args.kubernetes_version,
        )
        for env in ENVIRONMENTS
    ]
    render_s = validate_s = 0.0
    per_item: list[float] = []
    objects = errors = 0
    started = time.perf_counter()
    for i, workload in enumerate(items):
        consumers = [f"svc-{(i - 1) % len(items):04d}"]
        for target in targets:
            t0 = time.perf_counter()
            rendered = render_service(
                workload, target, secret_names=["API_KEY", "SENTRY_DSN"], consumers=consumers
            )
            t1 = time.perf_counter()
            errors += len(validate(rendered, kubernetes_version=target.kubernetes_version))
            t2 = time.perf_counter()
            render_s += t1 - t0
            validate_s += t2 - t1
            per_item.append(t2 - t0)
            objects += len(rendered)
    total = time.perf_counter() - started
    renders = len(per_item)
    q = statistics.quantiles(per_item, n=100)
    print(f"host: {host_platform.python_implementation()} {host_platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {host_platform.machine()}")  # fmt: skip
    print(f"workloads x environments: {len(items)} x {len(targets)} = {renders} renders, "
          f"{objects} objects ({objects / renders:.1f} per render), "
          f"Kubernetes schemas {args.kubernetes_version}")  # fmt: skip
    print(f"total render + validate: {total:.2f} s (target <= {TARGET_SECONDS:.0f} s: "
          f"{'met' if total <= TARGET_SECONDS else 'MISSED'})")  # fmt: skip
    print(f"  render:   {render_s:.2f} s   validate: {validate_s:.2f} s")
    print(f"  per render+validate: p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms, "
          f"max {max(per_item) * 1000:.2f} ms (the first compiles the schemas)")  # fmt: skip
    print(f"schema errors: {errors}")
    return 0 if total <= TARGET_SECONDS and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
