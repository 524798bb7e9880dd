"""Score ``score.dev/v1b1`` files load into a Workload, and our verdict on validity is the
official JSON schema's: on the 80 real files in ``../shared/fixtures/real/score`` and on
thousands of seeded mutations of them. The schema is read from ``../shared`` at test time
only; the loader has its own checks."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from goldenpath.workloads import (
    Build,
    Container,
    Probe,
    ResourceRequest,
    Runtime,
    WorkloadError,
    load_workload,
    parse_workload,
)

SCORE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real" / "score"
SCHEMA = SCORE_DIR / "score-v1b1.json"
CORPUS = sorted(SCORE_DIR.glob("*.yaml")) if SCORE_DIR.is_dir() else []
needs_corpus = pytest.mark.skipif(
    not SCHEMA.is_file(),
    reason=f"Score fixtures not found at {SCORE_DIR.resolve()} (../shared is absent)",
)


@pytest.fixture(scope="module")
def official() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema)


def our_verdict(text: str, source: str) -> tuple[bool, WorkloadError | None]:
    try:
        parse_workload(text, source=source)
    except WorkloadError as e:
        return False, e
    return True, None


@needs_corpus
def test_the_corpus_is_all_there() -> None:
    assert len(CORPUS) == 80


@needs_corpus
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_real_score_file_verdict_equals_the_official_schema(official: Any, path: Path) -> None:
    text = path.read_text()
    expected = official.is_valid(yaml.safe_load(text))
    ok, error = our_verdict(text, path.name)
    assert ok == expected, f"{path.name}: official valid={expected}, ours: {error}"
    if error is not None:
        assert error.source == path.name and error.line is not None and error.field


@needs_corpus
def test_exactly_three_real_files_are_rejected_naming_line_and_field(official: Any) -> None:
    rejected = {}
    for path in CORPUS:
        ok, error = our_verdict(path.read_text(), path.name)
        if not ok:
            assert error is not None
            rejected[path.name.split("__")[0]] = (error.line, error.field)
    assert rejected == {
        "DemoKaspar": (32, "resources.db.properties"),
        "JamesAtIntegratnIO": (5, "metadata.name"),
        "alokkulkarni": (12, "workloads"),
    }


_VALUES: list[Any] = [
    None, True, 0, 80, 80.0, 70000, -1, 1.5, "", "a", "ab", "Ab_c", "ab-", "x=y", "score.dev/v1b1",
    "TCP", "HTTPS", "/x", "500m", "1.5Gi", "0600", "0999", "started", [], ["a"], [1], [{}], {},
    {"a": "b"}, {"type": "postgres"}, {"content": "x"}, {"source": "s", "target": "/t"},
    {"httpGet": {"path": "/", "port": 8080}}, {"exec": {"command": ["true"]}}, {"image": "x"},
    {"ready": "healthy"}, {"port": 80}, {"limits": {"cpu": "1"}},
]  # fmt: skip
_KEYS = [
    "x", "ab", "target", "source", "content", "binaryContent", "port", "targetPort", "path",
    "type", "class", "id", "params", "httpGet", "exec", "command", "image", "mode", "ready",
    "limits", "annotations", "name", "value", "httpHeaders", "readOnly", "noExpand",
]  # fmt: skip


def _nodes(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, (*at, i))


def _mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    at = rng.choice(list(_nodes(doc)))
    parent = doc
    for part in at[:-1]:
        parent = parent[part]
    target = parent[at[-1]] if at else doc
    kind = rng.randrange(4)
    if kind == 0 and at:
        parent[at[-1]] = copy.deepcopy(rng.choice(_VALUES))
    elif kind == 1 and at and isinstance(parent, dict):
        del parent[at[-1]]
    elif kind == 2 and isinstance(target, dict):
        target[rng.choice(_KEYS)] = copy.deepcopy(rng.choice(_VALUES))
    elif kind == 3 and at and isinstance(parent, dict):
        parent[rng.choice(_KEYS)] = parent.pop(at[-1])
    elif isinstance(target, list):
        target.append(copy.deepcopy(rng.choice(_VALUES)))
    return doc


@needs_corpus
def test_mutated_score_files_get_the_official_verdict(official: Any) -> None:
    """3,000 seeded single-edit mutations of the valid real files: same verdict, every time."""
    rng = random.Random(20261204)
    originals = [yaml.safe_load(p.read_text()) for p in CORPUS]
    valid = [d for d in originals if official.is_valid(d)]
    counts = {True: 0, False: 0}
    for n in range(3000):
        doc = _mutate(rng.choice(valid), rng)
        expected = official.is_valid(doc)
        ok, error = our_verdict(json.dumps(doc), f"mutant-{n}.yaml")
        assert ok == expected, f"mutant {n}: official valid={expected}, ours: {error}\n{doc}"
        counts[expected] += 1
    assert min(counts.values()) > 500  # both verdicts well exercised


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "score.yaml"
    path.write_text(text)
    return path


SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: orders
  annotations: {description: Takes orders}
service:
  ports:
    www: {port: 80, targetPort: 8080}
    admin: {port: 9000}
containers:
  sidecar:
    image: envoyproxy/envoy:v1.30
  orders:
    image: "."
    command: [python, -m, orders]
    args: [--port, "8080"]
    variables:
      DATABASE_URL: "postgresql://${resources.db.username}:${resources.db.password}@${resources.db.host}/app"
      ESCAPED: "$${not.a.placeholder}"
    readinessProbe: {httpGet: {path: /ready, port: 8080}}
    livenessProbe: {exec: {command: [cat, /tmp/alive]}}
    resources:
      limits: {cpu: 500m, memory: 256Mi}
      requests: {cpu: 100m}
resources:
  db: {type: postgres, class: large, params: {extensions: [uuid-ossp]}}
  payments: {type: service}
"""


def test_score_maps_onto_the_workload(tmp_path: Path) -> None:
    w = load_workload(write(tmp_path, SCORE))
    assert (w.name, w.format, w.description) == ("orders", "score", "Takes orders")
    # the container named like the workload is the main one, not the first
    assert w.command == ("python", "-m", "orders", "--port", "8080")
    assert w.build == Build(kind=None, image=".")
    assert w.port == 8080
    assert w.readiness == Probe("/ready") and w.liveness == Probe(None)
    assert w.env["DATABASE_URL"].startswith("postgresql://${resources.db.username}:")
    assert w.env["ESCAPED"] == "$${not.a.placeholder}"
    assert w.runtime == Runtime(replicas=1, cpu="500m", memory="256Mi")
    assert w.resources["db"] == ResourceRequest(
        name="db", type="postgres", size="large", params={"extensions": ["uuid-ossp"]}
    )
    assert w.dependencies == ("payments",)
    assert set(w.containers) == {"sidecar", "orders"}
    assert w.containers["sidecar"] == Container(name="sidecar", image="envoyproxy/envoy:v1.30")
    assert w.environments == {} and w.for_environment("production") is w


def test_image_only_score_has_no_command_and_a_tcp_check(tmp_path: Path) -> None:
    w = load_workload(
        write(
            tmp_path,
            "apiVersion: score.dev/v1b1\nmetadata: {name: web}\n"
            "containers:\n  main: {image: nginx:1.27}\n",
        )
    )
    assert w.command == () and w.build == Build(kind=None, image="nginx:1.27")
    assert w.port == 8080 and w.readiness == Probe(None) and w.liveness == Probe(None)


@pytest.mark.parametrize(
    ("tail", "line", "field", "message"),
    [
        ("    imag: nginx\n", 5, "containers.web.imag", "did you mean 'image'?"),
        (
            "    image: nginx\n    variables:\n      PORT: 8080\n",
            7,
            "containers.web.variables.PORT",
            "expected a string, got a number",
        ),
        (
            "    image: nginx\n    resources:\n      limits: {memory: 1GB}\n",
            7,
            "containers.web.resources.limits.memory",
            "memory size",
        ),
        (
            "    image: nginx\n    readinessProbe: {}\n",
            6,
            "containers.web.readinessProbe",
            "httpGet or exec",
        ),
    ],
)
def test_invalid_score_names_line_and_field(
    tmp_path: Path, tail: str, line: int, field: str, message: str
) -> None:
    text = "apiVersion: score.dev/v1b1\nmetadata: {name: web}\ncontainers:\n  web:\n" + tail
    with pytest.raises(WorkloadError) as info:
        load_workload(write(tmp_path, text))
    error = info.value
    assert (error.line, error.field) == (line, field) and message in error.reason
    assert "8080" not in str(error)  # variable values are never echoed


def test_unsupported_score_version_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match=r"apiVersion: 'score\.dev/v2' is not score\.dev/v1b1"):
        load_workload(
            write(tmp_path, "apiVersion: score.dev/v2\nmetadata: {name: web}\ncontainers: {}\n")
        )
