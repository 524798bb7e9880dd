"""The processing pipeline on real files: annotations, defaults, placeholders, limits, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from goldenpath.catalog.model import ProcessedDocument
from goldenpath.catalog.processing import (
    ANNOTATION_LOCATION,
    ANNOTATION_ORIGIN_LOCATION,
    KindRules,
    process_file,
    process_text,
)
from goldenpath.errors import InvalidInput

RULES = KindRules.from_kinds(
    ["Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"]
)

API_YAML = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: orders
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    {placeholder}
"""


def build_file_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → content) under ``root``; returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def only(docs: list[ProcessedDocument]) -> ProcessedDocument:
    assert len(docs) == 1
    return docs[0]


def test_every_entity_gets_location_annotations_namespace_and_relations(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "catalog-info.yaml": """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: PetStore
  annotations:
    backstage.io/managed-by-location: url:https://spoofed
spec:
  type: service
  lifecycle: production
  owner: team-a
  providesApis: [zeta, alpha]
"""
        },
    )
    doc = only(
        process_file(
            tmp_path / "catalog-info.yaml", rules=RULES, origin_location_key="file:/reg.yaml"
        )
    )
    assert doc.valid and doc.entity is not None
    annotations = doc.entity["metadata"]["annotations"]
    assert annotations[ANNOTATION_LOCATION] == f"file:{tmp_path / 'catalog-info.yaml'}"
    assert annotations[ANNOTATION_ORIGIN_LOCATION] == "file:/reg.yaml"
    assert doc.entity["metadata"]["namespace"] == "default"
    assert doc.ref == "component:default/petstore"
    assert doc.entity["spec"]["providesApis"] == ["alpha", "zeta"], "Backstage sorts these lists"
    assert "uid" not in doc.entity["metadata"] and "etag" not in doc.entity["metadata"]
    assert {(r.type, r.target) for r in doc.relations if r.source == doc.ref} == {
        ("ownedBy", "group:default/team-a"),
        ("providesApi", "api:default/alpha"),
        ("providesApi", "api:default/zeta"),
    }


def test_origin_defaults_to_the_file_itself(tmp_path: Path) -> None:
    path = (
        build_file_tree(
            tmp_path,
            {
                "c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Group\n"
                "metadata: {name: team-a}\nspec: {type: team, children: []}\n"
            },
        )
        / "c.yaml"
    )
    doc = only(process_file(path, rules=RULES))
    assert doc.entity is not None
    annotations = doc.entity["metadata"]["annotations"]
    assert (
        annotations[ANNOTATION_ORIGIN_LOCATION]
        == annotations[ANNOTATION_LOCATION]
        == f"file:{path}"
    )


def test_documents_of_one_file_are_independent(tmp_path: Path) -> None:
    group = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: {}}}\n" + (
        "spec: {{type: team, children: []}}\n"
    )
    text = "---\n".join([group.format("a"), "", group.format("Bad Name"), group.format("c")])
    docs = process_file(build_file_tree(tmp_path, {"org.yaml": text}) / "org.yaml", rules=RULES)
    assert [(d.index, d.valid, d.ignored) for d in docs] == [
        (0, True, False),
        (1, True, True),
        (2, False, False),
        (3, True, False),
    ]
    assert docs[2].ref == "group:default/bad name"
    assert docs[1].entity is None


@pytest.mark.parametrize(
    ("placeholder", "files", "expected"),
    [
        ("$text: ./api/openapi.yaml", {"api/openapi.yaml": "openapi: 3.0.0\n"}, "openapi: 3.0.0\n"),
        ("$json: ./spec.json", {"spec.json": '{"openapi": "3.0.0"}'}, None),
        ("$yaml: spec.yaml", {"spec.yaml": "openapi: '3.0.0'\n"}, None),
    ],
)
def test_relative_placeholders_read_files_next_to_the_document(
    tmp_path: Path, placeholder: str, files: dict[str, str], expected: str | None
) -> None:
    build_file_tree(
        tmp_path, {"catalog-info.yaml": API_YAML.format(placeholder=placeholder), **files}
    )
    doc = only(process_file(tmp_path / "catalog-info.yaml", rules=RULES))
    if expected is not None:
        assert doc.valid and doc.entity is not None
        assert doc.entity["spec"]["definition"] == expected
    else:  # $json/$yaml give data: an object is not a valid API definition, as in Backstage
        assert [(e.path, e.stage) for e in doc.errors] == [("spec.definition", "kind")]


def test_json_and_yaml_placeholders_substitute_parsed_data(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\n"
            "  labels: {$json: ./labels.json}\n"
            "spec: {type: service, lifecycle: x, owner: y, extra: {$yaml: ./extra.yaml}}\n",
            "labels.json": json.dumps({"tier": "gold"}),
            "extra.yaml": "enabled: yes\nports: [80]\n",
        },
    )
    doc = only(process_file(tmp_path / "c.yaml", rules=RULES))
    assert doc.valid and doc.entity is not None
    assert doc.entity["metadata"]["labels"] == {"tier": "gold"}
    assert doc.entity["spec"]["extra"] == {"enabled": "yes", "ports": [80]}


def test_an_annotations_placeholder_is_not_resolved_like_in_backstage(tmp_path: Path) -> None:
    # The location annotations join the mapping first, so it no longer has exactly one key.
    build_file_tree(
        tmp_path,
        {
            "c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\n"
            "  annotations: {$yaml: ./ann.yaml}\nspec: {type: service, lifecycle: x, owner: y}\n",
            "ann.yaml": "a: b\n",
        },
    )
    doc = only(process_file(tmp_path / "c.yaml", rules=RULES))
    assert [(e.path, e.stage) for e in doc.errors] == [("metadata.annotations.$yaml", "policy")]


def test_openapi_placeholder_inlines_external_refs(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "catalog-info.yaml": API_YAML.format(placeholder="$openapi: ./openapi.yaml"),
            "openapi.yaml": "openapi: 3.0.0\ncomponents:\n  schemas:\n"
            "    Pet:\n      $ref: ./pet.yaml#/Pet\n",
            "pet.yaml": "Pet:\n  type: object\n",
        },
    )
    doc = only(process_file(tmp_path / "catalog-info.yaml", rules=RULES))
    assert doc.valid and doc.entity is not None
    definition = doc.entity["spec"]["definition"]
    assert "$ref" not in definition and "type: object" in definition


@pytest.mark.parametrize(
    ("placeholder", "fragment"),
    [
        ("$text: ./missing.yaml", "cannot read placeholder target ./missing.yaml"),
        ("$text: ../outside.yaml", "outside the allowed directories"),
        ("$text: https://example.com/openapi.yaml", "cannot read remote placeholder target"),
        ("$json: ./bad.json", "failed to parse JSON data at ./bad.json"),
        (
            "$yaml: ./two.yaml",
            "expected to find exactly one document of data at ./two.yaml, found 2",
        ),
    ],
)
def test_placeholder_failures_name_the_field_and_target(
    tmp_path: Path, placeholder: str, fragment: str
) -> None:
    build_file_tree(
        tmp_path,
        {
            "outside.yaml": "x",
            "repo/catalog-info.yaml": API_YAML.format(placeholder=placeholder),
            "repo/bad.json": "{",
            "repo/two.yaml": "a: 1\n---\nb: 2\n",
        },
    )
    doc = only(process_file(tmp_path / "repo" / "catalog-info.yaml", rules=RULES))
    assert [(e.path, e.stage) for e in doc.errors] == [("spec.definition", "placeholder")]
    assert fragment in doc.errors[0].message


def test_allowed_roots_widen_where_relative_targets_may_point(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "shared/openapi.yaml": "openapi: 3.0.0\n",
            "repo/catalog-info.yaml": API_YAML.format(placeholder="$text: ../shared/openapi.yaml"),
        },
    )
    doc = only(
        process_file(tmp_path / "repo" / "catalog-info.yaml", rules=RULES, allowed_roots=[tmp_path])
    )
    assert doc.valid, doc.errors


def test_an_injected_reader_serves_remote_targets() -> None:
    seen: list[tuple[str, Path | None]] = []

    def reader(target: str, base_dir: Path | None) -> str:
        seen.append((target, base_dir))
        return "openapi: 3.0.0\n"

    docs = process_text(
        API_YAML.format(placeholder="$text: https://example.com/o.yaml"),
        source="mem",
        rules=RULES,
        base_dir=None,
        location_key="url:https://example.com/c.yaml",
        origin_location_key=None,
        reader=reader,
    )
    assert only(docs).valid
    assert seen == [("https://example.com/o.yaml", None)]


def test_limits_are_passed_through(tmp_path: Path) -> None:
    path = (
        build_file_tree(tmp_path, {"c.yaml": "a: &a x\nb: [" + ",".join(["*a"] * 20) + "]\n"})
        / "c.yaml"
    )
    assert only(process_file(path, rules=RULES)).errors[0].stage == "envelope"
    doc = only(process_file(path, rules=RULES, max_aliases=10))
    assert doc.errors[0].stage == "parse" and "Excessive alias count" in doc.errors[0].message
    doc = only(process_file(path, rules=RULES, max_bytes=50))
    assert "larger than 50 bytes" in doc.errors[0].message


def test_a_missing_file_raises_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        process_file(tmp_path / "nope.yaml", rules=RULES)


def _component(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": f"svc-{i}",
            "tags": ["python"],
            "annotations": {"github.com/project-slug": f"o/r{i}"},
        },
        "spec": {
            "type": "service",
            "lifecycle": "production",
            "owner": f"team-{i % 50}",
            "system": "shop",
            "dependsOn": [f"resource:db-{i}"],
            "providesApis": [f"api-{i}"],
        },
    }


def test_processing_is_fast_enough_for_a_large_catalog() -> None:
    # 100,000 entities must be ingested in <= 10 s overall; processing gets a fraction of that.
    text = "\n---\n".join(json.dumps(_component(i)) for i in range(5_000))
    start = time.process_time()
    docs = process_text(
        text,
        source="big.yaml",
        rules=RULES,
        base_dir=None,
        location_key="file:/big.yaml",
        origin_location_key=None,
    )
    elapsed = time.process_time() - start
    assert len(docs) == 5_000 and all(d.valid for d in docs)
    assert elapsed < 2.5, f"5,000 entities took {elapsed:.2f} s of CPU"
