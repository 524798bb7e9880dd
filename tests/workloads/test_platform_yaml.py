"""``platform.yaml`` files written to disk load into the Workload a deploy needs, or fail
naming the file, the line and the field with the fix."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from goldenpath.errors import NotFound
from goldenpath.workloads import (
    Analysis,
    CanaryStep,
    Probe,
    ResourceRequest,
    Workload,
    WorkloadError,
    default_canary_steps,
    load_workload,
)

SEED = """\
kind: Service
metadata: {name: payment-api, team: payments, tier: critical}
spec:
  language: typescript
  framework: fastify
  runtime: {replicas: 3, cpu: "500m", memory: "512Mi"}
  database: {type: postgres, size: small}
  monitoring: {alerts: true, dashboard: true, slo: 99.9}
  deployment: {strategy: rolling, canary: true, rollback: automatic}
"""

FULL = """\
apiVersion: goldenpath.dev/v1
kind: Service
metadata:
  name: datasette-demo
  team: data
  tier: standard
  description: Datasette over the demo database
spec:
  language: python
  build:
    package: "datasette==0.65.1"
    extraPackages: [datasette-cluster-map]
  run:
    command: datasette serve --host 127.0.0.1 --port $PORT
    port: 8001
    readiness: {path: /-/versions.json, timeout: 500ms}
    liveness: /-/versions.json
    env: {LOG_LEVEL: info, DATABASE_URL: "${resources.db.url}", WORKERS: 4, DEBUG: false}
  runtime: {replicas: 2, cpu: 1, memory: 1Gi}
  database: {type: postgres, size: small, params: {version: "15"}}
  resources:
    cache: {type: redis, class: large}
  monitoring: {alerts: false, dashboard: true, slo: 99.5}
  dependencies: [orders-api, "component:default/users-api"]
  deployment:
    strategy: canary
    rollback: manual
    maxSurge: 2
    progressDeadline: 10m
    steps:
      - setWeight: 10
      - pause: 30s
      - analysis: {interval: 5s, count: 3, maxErrorRate: 0.01, minRequests: 50}
      - setWeight: 50
      - pause: {duration: 1m}
      - pause: {}
"""


NODE = "kind: Service\nmetadata: {name: svc}\nspec:\n  language: node\n"


def write(tmp_path: Path, text: str, name: str = "platform.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_text(tmp_path: Path, text: str) -> Workload:
    return load_workload(write(tmp_path, text))


def failure(tmp_path: Path, text: str) -> WorkloadError:
    with pytest.raises(WorkloadError) as info:
        load_workload(write(tmp_path, text))
    return info.value


def test_the_seed_example_loads_with_its_values_and_node_defaults(tmp_path: Path) -> None:
    w = load_text(tmp_path, SEED)
    assert (w.name, w.team, w.tier, w.format) == (
        "payment-api",
        "payments",
        "critical",
        "platform.yaml",
    )
    assert (w.language, w.framework) == ("typescript", "fastify")
    assert (w.runtime.replicas, w.runtime.cpu, w.runtime.memory) == (3, "500m", "512Mi")
    assert w.resources == {"db": ResourceRequest(name="db", type="postgres", size="small")}
    assert (w.monitoring.alerts, w.monitoring.dashboard, w.monitoring.slo) == (True, True, 99.9)
    assert w.deployment.strategy == "rolling" and w.deployment.rollback == "automatic"
    # canary deploys allowed: the default canary steps are filled in for `--canary`
    assert w.deployment.canary and w.deployment.steps == default_canary_steps()
    # node: `npm start`, the server reads PORT; built by the build step's node default
    assert w.command == ("npm", "start") and w.port == 3000
    assert w.build.kind == "node" and w.build.command is None
    assert w.readiness == Probe("/readyz") and w.liveness == Probe("/healthz")
    assert w.source == str(tmp_path / "platform.yaml")


def test_every_field_of_the_full_example_is_read(tmp_path: Path) -> None:
    w = load_text(tmp_path, FULL)
    assert w.description == "Datasette over the demo database"
    assert w.build.kind == "package" and w.build.package == "datasette==0.65.1"
    assert w.build.extra_packages == ("datasette-cluster-map",)
    assert w.command == ("datasette", "serve", "--host", "127.0.0.1", "--port", "$PORT")
    assert w.port == 8001
    assert w.readiness == Probe("/-/versions.json", timeout=0.5)
    assert w.liveness == Probe("/-/versions.json")
    assert w.env == {
        "LOG_LEVEL": "info",
        "DATABASE_URL": "${resources.db.url}",
        "WORKERS": "4",
        "DEBUG": "false",
    }
    assert (w.runtime.replicas, w.runtime.cpu, w.runtime.memory) == (2, "1", "1Gi")
    assert w.resources["db"].params == {"version": "15"}
    assert w.resources["cache"] == ResourceRequest(name="cache", type="redis", size="large")
    assert (w.monitoring.alerts, w.monitoring.slo) == (False, 99.5)
    assert w.dependencies == ("orders-api", "component:default/users-api")
    d = w.deployment
    assert (d.strategy, d.canary, d.rollback, d.max_surge, d.progress_deadline) == (
        "canary",
        True,
        "manual",
        2,
        600.0,
    )
    assert d.steps == (
        CanaryStep(set_weight=10),
        CanaryStep(pause=30.0),
        CanaryStep(analysis=Analysis(interval=5.0, count=3, max_error_rate=0.01, min_requests=50)),
        CanaryStep(set_weight=50),
        CanaryStep(pause=60.0),
        CanaryStep(pause=math.inf),
    )


@pytest.mark.parametrize(
    ("spec", "command", "port", "kind"),
    [
        (
            "{language: python, framework: fastapi}",
            ("uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "$PORT"),
            8000,
            "python",
        ),
        ("{language: javascript, framework: express}", ("npm", "start"), 3000, "node"),
        ("{language: node}", ("npm", "start"), 3000, "node"),
        (
            "{language: python, run: {command: [gunicorn, app:app]}}",
            ("gunicorn", "app:app"),
            8000,
            "python",
        ),
        ("{language: go, run: {command: ./server, port: 9090}}", ("./server",), 9090, None),
        ("{language: python, build: {kind: node}, run: {command: x}}", ("x",), 8000, "node"),
    ],
)
def test_language_defaults(
    tmp_path: Path, spec: str, command: tuple[str, ...], port: int, kind: str | None
) -> None:
    w = load_text(tmp_path, f"kind: Service\nmetadata: {{name: svc}}\nspec: {spec}\n")
    assert (w.command, w.port, w.build.kind) == (command, port, kind)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        (45, 45.0),
        (1.5, 1.5),
    ],
)
def test_durations(tmp_path: Path, value: object, seconds: float) -> None:
    text = f"{NODE}  deployment: {{progressDeadline: {value}}}\n"
    assert load_text(tmp_path, text).deployment.progress_deadline == seconds


@pytest.mark.parametrize(
    ("deployment", "steps"),
    [
        ("{strategy: canary}", default_canary_steps(10)),
        ("{canary: true}", default_canary_steps(10)),
        ("{strategy: rolling}", ()),
        ("{strategy: blue-green}", ()),
        ("{strategy: canary, steps: [{setWeight: 60}]}", (CanaryStep(set_weight=60),)),
    ],
)
def test_canary_steps_default_only_when_a_canary_is_possible(
    tmp_path: Path, deployment: str, steps: tuple[CanaryStep, ...]
) -> None:
    text = f"{NODE}  deployment: {deployment}\n"
    assert load_text(tmp_path, text).deployment.steps == steps


def test_default_canary_steps_shape() -> None:
    assert default_canary_steps(25) == (
        CanaryStep(set_weight=25),
        CanaryStep(analysis=Analysis()),
        CanaryStep(set_weight=50),
        CanaryStep(analysis=Analysis()),
    )
    assert default_canary_steps(50) == (CanaryStep(set_weight=50), CanaryStep(analysis=Analysis()))
    with pytest.raises(ValueError):
        default_canary_steps(0)


def test_database_none_declares_no_resource(tmp_path: Path) -> None:
    w = load_text(
        tmp_path,
        "kind: Service\nmetadata: {name: svc}\nspec: {language: node, database: {type: none}}\n",
    )
    assert w.resources == {}


BASE = "kind: Service\nmetadata:\n  name: svc\nspec:\n  language: python\n  framework: fastapi\n"


@pytest.mark.parametrize(
    ("extra", "line", "field", "message"),
    [
        ("  runtime: {replica: 3}\n", 7, "spec.runtime.replica", "did you mean 'replicas'?"),
        ("  runtime:\n    replicas: 0\n", 8, "spec.runtime.replicas", "between 1 and 50"),
        ("  runtime:\n    replicas: 51\n", 8, "spec.runtime.replicas", "between 1 and 50"),
        (
            "  runtime:\n    replicas: '3'\n",
            8,
            "spec.runtime.replicas",
            "expected an integer, got a string",
        ),
        ("  runtime: {memory: lots}\n", 7, "spec.runtime.memory", "a quantity such as"),
        ("  monitoring:\n    slo: 100\n", 8, "spec.monitoring.slo", "out of range (0, 100)"),
        ("  monitoring:\n    slo: 0\n", 8, "spec.monitoring.slo", "out of range"),
        ("  monitoring:\n    alerts: yes\n", 8, "spec.monitoring.alerts", "expected true or false"),
        (
            "  deployment:\n    strategy: canaryy\n",
            8,
            "spec.deployment.strategy",
            "did you mean 'canary'?",
        ),
        (
            "  deployment:\n    strategy: canary\n    steps:\n      - setWeight: 120\n",
            10,
            "spec.deployment.steps.0.setWeight",
            "between 0 and 100",
        ),
        (
            "  deployment:\n    strategy: canary\n    steps:\n"
            "      - setWeight: 50\n      - setWeight: 20\n",
            11,
            "spec.deployment.steps.1.setWeight",
            "only go up",
        ),
        (
            "  deployment:\n    strategy: canary\n    steps:\n      - {setWeight: 5, pause: 1s}\n",
            10,
            "spec.deployment.steps.0",
            "exactly one of",
        ),
        (
            "  deployment:\n    steps: [{setWeight: 5}]\n",
            8,
            "spec.deployment.steps",
            "set strategy: canary or canary: true",
        ),
        (
            "  deployment:\n    strategy: canary\n    steps: [{pause: soon}]\n",
            9,
            "spec.deployment.steps.0.pause",
            "not a duration",
        ),
        ("  run:\n    command: []\n", 8, "spec.run.command", "the command is empty"),
        ("  run:\n    command: 'serve \"x'\n", 8, "spec.run.command", "check the quotes"),
        ("  run:\n    port: 70000\n", 8, "spec.run.port", "between 1 and 65535"),
        ("  run:\n    readiness: ready\n", 8, "spec.run.readiness.path", "must start with '/'"),
        ("  run:\n    env: {9LIVES: x}\n", 8, "spec.run.env.9LIVES", "not a variable name"),
        ("  run:\n    env:\n      A: [1]\n", 9, "spec.run.env.A", "expected a string, got a list"),
        (
            "  run:\n    env:\n      DB: ${resources.dbb.url}\n  database: {type: postgres}\n",
            9,
            "spec.run.env.DB",
            "no resource 'dbb' is declared (declared: db)",
        ),
        ("  build: {kind: package}\n", 7, "spec.build.package", "kind: package needs package"),
        ("  build: {subdir: ../x}\n", 7, "spec.build.subdir", "relative path inside"),
        (
            "  build: {extra_packages: [x]}\n",
            7,
            "spec.build.extra_packages",
            "did you mean 'extraPackages'?",
        ),
        ("  dependencies: [a, a]\n", 7, "spec.dependencies.1", "listed twice"),
        (
            "  environments:\n    prod:\n      language: go\n",
            9,
            "spec.environments.prod.language",
            "same in every",
        ),
        ("  environments:\n    Prod_1: {}\n", 8, "spec.environments.Prod_1", "not a DNS label"),
        ("  databse: {type: postgres}\n", 7, "spec.databse", "did you mean 'database'?"),
    ],
)
def test_invalid_fields_name_file_line_field_and_fix(
    tmp_path: Path, extra: str, line: int, field: str, message: str
) -> None:
    error = failure(tmp_path, BASE + extra)
    assert (error.line, error.field) == (line, field)
    assert message in error.reason
    assert str(error).startswith(f"{tmp_path / 'platform.yaml'}:{line}: {field}: ")
    assert error.details["field"] == field and error.status == 400


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("kind: Service\nmetadata:\n  name: Payment_API\n", 3, "metadata.name", "not a DNS label"),
        ("kind: Service\nmetadata:\n  name: " + "a" * 64 + "\n", 3, "metadata.name", "at most 63"),
        ("kind: Component\nmetadata: {name: x}\n", 1, "kind", "not one of Service"),
        ("kind: Service\n", 1, "", "missing required key 'metadata'"),
        (
            "kind: Service\nmetadata: {name: x}\nruntime: {replicas: 2}\n",
            3,
            "runtime",
            "under spec:",
        ),
        (
            "kind: Service\nmetadata: {name: x, owner: me}\n",
            2,
            "metadata.owner",
            "unknown key 'owner'",
        ),
        (
            "kind: Service\nmetadata: {name: x}\nspec: []\n",
            3,
            "spec",
            "expected a mapping, got a list",
        ),
        (
            "kind: Service\nmetadata: {name: x}\nspec: {language: go}\n",
            3,
            "spec.run.command",
            "set spec.run.command",
        ),
    ],
)
def test_document_level_errors(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    error = failure(tmp_path, text)
    assert (error.line, error.field) == (line, field)
    assert message in error.reason


def test_errors_in_environment_overrides_point_at_the_override(tmp_path: Path) -> None:
    text = (
        BASE
        + "  environments:\n    staging: {}\n    production:\n"
        + "      runtime:\n        replicas: 80\n"
    )
    error = failure(tmp_path, text)
    assert (error.line, error.field) == (11, "spec.environments.production.runtime.replicas")


def test_secret_env_values_never_appear_in_errors(tmp_path: Path) -> None:
    error = failure(tmp_path, BASE + "  run:\n    env:\n      TOKEN: [s3cr3t-value]\n")
    assert "s3cr3t" not in str(error) and "s3cr3t" not in repr(error.details)
    error = failure(tmp_path, BASE + "  run:\n    env:\n      TOKEN: ${resources.x.s3cr3t}\n")
    assert "s3cr3t" not in str(error)


def test_load_workload_finds_the_spec_in_a_directory_or_says_what_is_missing(
    tmp_path: Path,
) -> None:
    write(tmp_path, SEED)
    assert load_workload(tmp_path).name == "payment-api"
    assert load_workload(tmp_path / "platform.yaml", source="payments/platform.yaml").source == (
        "payments/platform.yaml"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFound, match=r"platform\.yaml"):
        load_workload(empty)
    with pytest.raises(NotFound, match="no such file"):
        load_workload(tmp_path / "nope.yaml")


def test_the_complete_example_in_the_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "workloads.md"
    section = docs.read_text().split("## `platform.yaml` — a complete example", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    w = load_text(tmp_path, example)
    assert (w.name, w.command, w.build.subdir) == (
        "payment-api",
        ("node", "dist/server.js"),
        "services/payments",
    )
    prod = w.for_environment("production")
    assert (prod.runtime.replicas, prod.env["LOG_LEVEL"], prod.resources["db"].size) == (
        5,
        "warning",
        "large",
    )
    assert w.deployment.steps[-1] == CanaryStep(pause=math.inf)
