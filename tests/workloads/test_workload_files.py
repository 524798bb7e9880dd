"""Workload files at the YAML level (syntax, duplicates, several documents, alias bombs, YAML
1.2 scalars), per-environment overrides, and the JSON form stored on deployment records."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath.workloads import (
    CanaryStep,
    Probe,
    ResourceRequest,
    Workload,
    WorkloadError,
    load_workload,
    parse_workload,
)

APP = "kind: Service\nmetadata: {name: svc}\nspec:\n  language: python\n  framework: fastapi\n"


def error_of(text: str | bytes, source: str = "repo/platform.yaml") -> WorkloadError:
    with pytest.raises(WorkloadError) as info:
        parse_workload(text, source=source)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("kind: Service\nmetadata: {name: x\n", 3, "YAML syntax error"),
        ("kind: Service\nmetadata:\n  name: a\n  name: b\n", 4, "duplicate key 'name'"),
        (
            "kind: Service\nmetadata: {name: a}\n---\nkind: Service\n",
            3,
            "more than one YAML document",
        ),
        ("kind: Service\nmetadata:\n\tname: a\n", 3, "YAML syntax error"),
        # a control character: PyYAML's reader raised before parsing (a 500 from the API)
        ("kind: Service\nmetadata: {name: a\x0f}\n", 2, "0x000f is not allowed in YAML"),
    ],
)
def test_yaml_problems_carry_the_line(text: str, line: int, message: str) -> None:
    error = error_of(text)
    assert error.line == line and message in error.reason
    assert str(error).startswith(f"repo/platform.yaml:{line}: ")


def test_not_utf8_and_empty_and_scalar_documents_are_refused() -> None:
    assert "not UTF-8" in error_of(b"kind: Service\nmetadata: {name: \xff}\n").reason
    assert "expected a mapping, got null" in error_of("").reason
    assert "expected a mapping, got a string" in error_of("just text\n").reason


def test_a_lone_surrogate_escape_is_refused_with_its_field_and_line() -> None:
    """PyYAML's pure-Python parser turns ``"\\ud800"`` into a string no encoder accepts (the
    catalog's C parser refuses it while scanning); it would fail later, far from the file."""
    error = error_of(APP + '  run:\n    env: {GREETING: "hi \\ud800"}\n')
    assert (error.line, error.field) == (7, "spec.run.env.GREETING")
    assert "surrogate" in error.reason
    key = error_of(APP + '  run:\n    env: {"K\\udc00": x}\n')
    assert key.line == 7 and "surrogate" in key.reason
    # an escaped pair too, as libyaml does (PyYAML keeps two code points no encoder accepts)
    assert "surrogate" in error_of(APP + '  run:\n    env: {S: "\\ud83d\\ude00"}\n').reason
    smile = parse_workload(APP + '  run:\n    env: {SMILE: "\\U0001F600 😀"}\n', source="x")
    assert smile.env == {"SMILE": "\U0001f600 \U0001f600"}


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error = error_of("\n".join(lines) + "\nkind: Service\n")
    assert "YAML aliases" in error.reason


def test_yaml_1_2_scalars_on_and_yes_are_strings_not_booleans() -> None:
    error = error_of(APP + "  monitoring: {dashboard: on}\n")
    assert error.field == "spec.monitoring.dashboard" and "got a string" in error.reason
    w = parse_workload(APP + "  run:\n    env: {ENABLED: yes, MODE: 0o17}\n", source="x")
    assert w.env == {"ENABLED": "yes", "MODE": "15"}


OVERRIDES = (
    APP
    + """\
  runtime: {replicas: 1, cpu: 250m}
  run:
    env: {LOG_LEVEL: debug, FEATURE_X: "on", DATABASE_URL: "${resources.db.url}"}
  database: {type: postgres, size: small}
  deployment: {strategy: rolling}
  environments:
    production:
      runtime: {replicas: 3}
      run:
        env: {LOG_LEVEL: warning, FEATURE_X: null}
        readiness: {timeout: 5s}
      database: {size: large}
      deployment: {strategy: canary}
    preview:
      resources:
        cache: {type: redis}
      dependencies: [orders-api]
"""
)


def test_for_environment_merges_overrides_over_the_file() -> None:
    w = parse_workload(OVERRIDES, source="svc/platform.yaml")
    assert set(w.environments) == {"production", "preview"}
    prod = w.for_environment("production")
    assert (prod.runtime.replicas, prod.runtime.cpu) == (3, "250m")
    assert prod.env == {"LOG_LEVEL": "warning", "DATABASE_URL": "${resources.db.url}"}
    assert prod.readiness == Probe("/readyz", timeout=5.0)
    assert prod.resources["db"] == ResourceRequest(name="db", type="postgres", size="large")
    assert prod.deployment.strategy == "canary" and prod.deployment.steps[0] == CanaryStep(
        set_weight=10
    )
    preview = w.for_environment("preview")
    assert set(preview.resources) == {"db", "cache"} and preview.dependencies == ("orders-api",)
    assert preview.runtime.replicas == 1 and preview.env["LOG_LEVEL"] == "debug"
    # no overrides for this environment: the workload as written
    assert w.for_environment("staging") is w
    # the base is untouched
    assert w.runtime.replicas == 1 and w.deployment.strategy == "rolling"


def test_an_override_that_breaks_a_cross_field_rule_fails_at_load() -> None:
    text = APP + "  run:\n    env: {DB: '${resources.db.url}'}\n  database: {type: postgres}\n"
    text += "  environments:\n    dev:\n      database: {type: none}\n"
    error = error_of(text)
    assert error.field == "spec.environments.dev.run.env.DB" and "no resource 'db'" in error.reason


def test_to_dict_is_strict_json_and_from_dict_restores_the_workload(tmp_path: Path) -> None:
    text = OVERRIDES.replace(
        "deployment: {strategy: rolling}",
        "deployment: {strategy: canary, steps: [{setWeight: 20}, {pause: {}}, {pause: 90s}]}",
    )
    w = parse_workload(text, source="svc/platform.yaml")
    assert w.deployment.steps[1].pause == math.inf
    data = json.loads(json.dumps(w.to_dict(), allow_nan=False))
    assert data["deployment"]["steps"] == [{"set_weight": 20}, {"pause": None}, {"pause": 90.0}]
    again = Workload.from_dict(data)
    assert again == w
    assert again.for_environment("production") == w.for_environment("production")


def test_score_workloads_round_trip_with_their_containers(tmp_path: Path) -> None:
    path = tmp_path / "score.yaml"
    path.write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n"
        "  web: {image: nginx, readinessProbe: {httpGet: {path: /ok, port: 80}}}\n"
        "  sidecar: {image: busybox, command: [sh], args: [-c, sleep 1d]}\n"
    )
    w = load_workload(path)
    assert Workload.from_dict(json.loads(json.dumps(w.to_dict()))) == w


_VALUES: list[Any] = [
    None, True, 0, 1, 50, 51, 100, 101, -1, 1.5, "", "a", "30s", "0s", "/x", "canary", "none",
    "postgres", "500m", [], ["a"], [1], [{}], {}, {"a": "b"}, {"type": "x"}, {"setWeight": 10},
    {"pause": {}}, {"analysis": {}}, {"path": None}, "${resources.db.url}", "${resources.zz.url}",
]  # fmt: skip
_KEYS = [
    "x", "language", "build", "run", "runtime", "database", "resources", "monitoring",
    "deployment", "dependencies", "environments", "command", "port", "env", "readiness", "path",
    "timeout", "replicas", "cpu", "memory", "type", "size", "params", "strategy", "canary",
    "steps", "setWeight", "pause", "analysis", "package", "kind", "subdir", "name", "production",
]  # fmt: skip


def _mutant(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randrange(1, 4)):
        spots: list[tuple[Any, Any]] = []  # (container, key or index)
        stack: list[Any] = [doc]
        while stack:
            node = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                spots.append((node, key))
                if isinstance(value, dict | list):
                    stack.append(value)
        parent, key = rng.choice(spots)
        action = rng.randrange(3)
        if action == 0:
            parent[key] = copy.deepcopy(rng.choice(_VALUES))
        elif action == 1 and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[rng.choice(_KEYS)] = copy.deepcopy(rng.choice(_VALUES))
    return doc


def test_mangled_files_fail_only_with_a_located_workload_error() -> None:
    """2,000 seeded random edits of a full file: each loads (and round-trips, and applies its
    overrides) or raises WorkloadError with a line and field; no other exception escapes."""
    rng = random.Random(4)
    base = yaml.safe_load(OVERRIDES)
    outcomes = {"loaded": 0, "refused": 0}
    for n in range(2000):
        doc = _mutant(base, rng)
        try:
            w = parse_workload(json.dumps(doc), source=f"mutant-{n}.yaml")
        except WorkloadError as e:
            assert e.line is not None, f"mutant {n}: {e}"
            outcomes["refused"] += 1
            continue
        assert Workload.from_dict(json.loads(json.dumps(w.to_dict()))) == w
        for env in w.environments:
            w.for_environment(env)
        outcomes["loaded"] += 1
    assert min(outcomes.values()) > 300
