"""``promtool`` (Debian's prometheus package) on the rendered SLO rules.

``promtool check rules`` on every rule file rendered for the golden-path services and every
real Score file (with an SLO added: Score has no ``monitoring``), in dev/staging/production;
``promtool test rules`` proves the burn-rate alerts fire on a burning service and stay quiet on
a healthy one.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath.manifests import observability
from goldenpath.manifests.target import RenderTarget
from goldenpath.scaffolder.actions import ActionRegistry, fetch, fs
from goldenpath.scaffolder.builtin import builtin_dir
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file
from goldenpath.workloads import (
    Monitoring,
    Workload,
    WorkloadError,
    load_workload,
    parse_workload,
)

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)
SCORE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real" / "score"
ENVIRONMENTS = ("dev", "staging", "production")


def target(env: str) -> RenderTarget:
    return RenderTarget(environment=env, namespace=f"apps-{env}", production=env == "production")


def golden_path(tmp_path: Path, template: str, values: dict[str, Any]) -> Workload:
    """The built-in template's platform.yaml, rendered by the real scaffolder (fetch steps)."""
    spec = load_template_file(builtin_dir() / template / "template.yaml")
    fetch_only = TemplateSpec.from_entity(
        {
            **spec.entity,
            "spec": {
                **spec.entity["spec"],
                "steps": [s for s in spec.steps if s["action"].startswith("fetch:")],
                "output": {},
            },
        },
        base_dir=spec.base_dir,
        ref=spec.ref,
    )
    workspace = tmp_path / template
    result = run_template(
        fetch_only,
        values,
        registry=ActionRegistry([*fetch.ACTIONS, *fs.ACTIONS]),
        workspace=workspace,
        user={"ref": "user:default/alice"},
    )
    assert result.status == "completed", result.error
    return load_workload(workspace / "platform.yaml")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def write_rules(path: Path, w: Workload, env: str) -> bool:
    groups = observability.rule_groups(w.for_environment(env), target(env))
    if not groups:
        return False
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return True


def test_promtool_checks_every_rendered_rule_file(tmp_path: Path) -> None:
    workloads = {
        "python-service": golden_path(
            tmp_path, "python-service", {"name": "orders", "database": "postgres"}
        ),
        "node-service": golden_path(
            tmp_path, "node-service", {"name": "cart-api", "language": "typescript"}
        ),
    }
    assert all(w.monitoring.slo == 99.9 for w in workloads.values())
    loaded = 0
    if SCORE_DIR.is_dir():
        for path in sorted(SCORE_DIR.glob("*.yaml")):
            try:
                w = load_workload(path)
            except WorkloadError:
                continue  # the workloads tests cover files that do not load
            loaded += 1
            assert observability.rule_groups(w, target("dev")) == []  # Score: no SLO
            workloads[path.stem] = dataclasses.replace(w, monitoring=Monitoring(slo=99.5))
    files: list[str] = []
    for i, (name, w) in enumerate(workloads.items()):
        for env in ENVIRONMENTS:
            out = tmp_path / f"{i:03d}-{env}.rules.yml"
            assert write_rules(out, w, env), name
            files.append(out.name)
    done = promtool("check", "rules", *files, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS: 17 rules found") == len(files)
    if SCORE_DIR.is_dir():
        assert loaded > 40, "most real Score files should load"


def series(status: str, route: str, per_minute: int) -> dict[str, str]:
    labels = f'job="payment-api",namespace="apps-production",method="GET",route="{route}"'
    return {
        "series": f'http_requests_total{{{labels},status="{status}"}}',
        "values": f"0+{per_minute}x240",
    }


def test_burn_rate_alerts_fire_on_a_burning_service_only(tmp_path: Path) -> None:
    w = parse_workload(
        """kind: Service
metadata: {name: payment-api, team: payments}
spec:
  language: python
  framework: fastapi
  monitoring: {slo: 99.9}
""",
        source="payment-api/platform.yaml",
    )
    assert write_rules(tmp_path / "rules.yml", w, "production")
    ids = {
        "owner": "payments",
        "sloth_id": "payment-api-requests-availability",
        "sloth_service": "payment-api",
        "sloth_slo": "requests-availability",
        "namespace": "apps-production",
    }
    tail = "payment-api requests-availability SLO error budget"

    def expected(severity: str, label: str) -> dict[str, Any]:
        return {
            "exp_labels": {**ids, "severity": label, "sloth_severity": severity},
            "exp_annotations": {
                "summary": f"{tail} burn rate is over expected.",
                "title": f"({severity}) {tail} burn rate is too fast.",
            },
        }

    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {  # 5 % errors on /items: 50x the 0.1 % budget → page and ticket
                "interval": "1m",
                "input_series": [
                    series("200", "/items", 57),
                    series("500", "/items", 3),
                    series("200", "/healthz", 1000),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "70m",
                        "alertname": "PaymentApiHighErrorRate",
                        "exp_alerts": [expected("page", "critical"), expected("ticket", "warning")],
                    }
                ],
                "promql_expr_test": [
                    {
                        "expr": "slo:error_budget:ratio",
                        "eval_time": "1m",
                        "exp_samples": [
                            {"labels": _labels("slo:error_budget:ratio", ids), "value": 0.001}
                        ],
                    }
                ],
            },
            {  # errors only on the probe route (not in the SLI): no alert
                "interval": "1m",
                "input_series": [series("200", "/items", 60), series("503", "/readyz", 60)],
                "alert_rule_test": [
                    {"eval_time": "70m", "alertname": "PaymentApiHighErrorRate", "exp_alerts": []}
                ],
            },
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def _labels(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
