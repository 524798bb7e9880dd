"""The sample catalog in examples/catalog is what the quickstart imports and the README shows.

These tests keep it honest: every file processes without errors through the same pipeline
`platform catalog import` uses, every entity the docs promise is there, the relations the
README describes are derived in both directions, and the API definitions are resolved from
their `$text` files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldenpath.catalog import processing
from goldenpath.catalog.model import ProcessedDocument, Relation

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "examples" / "catalog"
RULES = processing.KindRules(
    allowed=frozenset(
        k.lower()
        for k in ("Component", "API", "Resource", "System", "Domain", "Group", "User", "Location")
    )
)

EXPECTED_REFS = {
    "location:default/northwind-catalog",
    "domain:default/commerce",
    "system:default/storefront",
    "system:default/payments",
    "group:default/engineering",
    "group:default/storefront-team",
    "group:default/payments-team",
    "user:default/ada.lovelace",
    "user:default/grace.hopper",
    "user:default/alan.turing",
    "user:default/katherine.johnson",
    "component:default/web-shop",
    "component:default/product-catalog",
    "component:default/checkout",
    "component:default/payments",
    "component:default/fraud-detector",
    "component:default/payments-sdk",
    "api:default/product-catalog-api",
    "api:default/checkout-api",
    "api:default/payments-api",
    "resource:default/catalog-db",
    "resource:default/payments-db",
}

# (source, type, target) with the reverse type each must be paired with.
EXPECTED_RELATIONS = [
    ("component:default/checkout", "ownedBy", "group:default/storefront-team", "ownerOf"),
    ("component:default/checkout", "partOf", "system:default/storefront", "hasPart"),
    ("component:default/checkout", "providesApi", "api:default/checkout-api", "apiProvidedBy"),
    ("component:default/checkout", "consumesApi", "api:default/payments-api", "apiConsumedBy"),
    ("component:default/checkout", "dependsOn", "component:default/payments", "dependencyOf"),
    ("component:default/payments", "dependsOn", "resource:default/payments-db", "dependencyOf"),
    ("component:default/payments-sdk", "ownedBy", "user:default/alan.turing", "ownerOf"),
    ("component:default/payments-sdk", "partOf", "component:default/payments", "hasPart"),
    ("system:default/payments", "partOf", "domain:default/commerce", "hasPart"),
    ("domain:default/commerce", "ownedBy", "group:default/engineering", "ownerOf"),
    ("api:default/payments-api", "ownedBy", "group:default/payments-team", "ownerOf"),
    ("resource:default/catalog-db", "partOf", "system:default/storefront", "hasPart"),
    ("group:default/storefront-team", "childOf", "group:default/engineering", "parentOf"),
    ("user:default/katherine.johnson", "memberOf", "group:default/payments-team", "hasMember"),
    ("user:default/katherine.johnson", "memberOf", "group:default/storefront-team", "hasMember"),
]


def _entity_files() -> list[Path]:
    return sorted(p for p in CATALOG.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.fixture(scope="module")
def documents() -> list[ProcessedDocument]:
    docs: list[ProcessedDocument] = []
    for path in _entity_files():
        docs.extend(processing.process_file(path, rules=RULES))
    return docs


def _problems(docs: list[ProcessedDocument]) -> list[str]:
    return [f"{d.source}#{d.index} {d.ref}: {e.path}: {e.message}" for d in docs for e in d.errors]


def test_every_example_document_is_valid(documents: list[ProcessedDocument]) -> None:
    assert _problems(documents) == []
    assert all(d.valid for d in documents)


def test_the_sample_org_has_every_promised_entity(documents: list[ProcessedDocument]) -> None:
    refs = [d.ref for d in documents if d.entity is not None]
    assert len(refs) == len(set(refs)), "an entity ref appears twice in examples/catalog"
    assert set(refs) == EXPECTED_REFS


def test_relations_are_derived_in_both_directions(documents: list[ProcessedDocument]) -> None:
    relations = {r for d in documents for r in d.relations}
    for source, forward, target, reverse in EXPECTED_RELATIONS:
        assert Relation(source, forward, target) in relations, (source, forward, target)
        assert Relation(target, reverse, source) in relations, (target, reverse, source)


def test_every_relation_target_exists_in_the_sample(documents: list[ProcessedDocument]) -> None:
    """No dangling references: the sample is a closed world a newcomer can click through."""
    dangling = sorted({r.target for d in documents for r in d.relations} - EXPECTED_REFS)
    assert dangling == []


def test_api_definitions_are_resolved_from_their_text_files(
    documents: list[ProcessedDocument],
) -> None:
    apis = [d.entity for d in documents if d.entity is not None and d.entity["kind"] == "API"]
    assert len(apis) == 3
    for api in apis:
        definition = api["spec"]["definition"]
        assert isinstance(definition, str), "the $text placeholder was not substituted"
        spec = json.loads(definition)
        assert spec["openapi"].startswith("3.")
        assert spec["paths"], f"{api['metadata']['name']}: the OpenAPI file has no paths"


def test_the_location_file_lists_every_entity_file() -> None:
    """Importing the directory and importing catalog-info.yaml must give the same catalog."""
    location = yaml.safe_load((CATALOG / "catalog-info.yaml").read_text(encoding="utf-8"))
    targets = {(CATALOG / t).resolve() for t in location["spec"]["targets"]}
    assert all(t.is_file() for t in targets), sorted(str(t) for t in targets if not t.is_file())
    entity_files = {p.resolve() for p in _entity_files()} - {(CATALOG / "catalog-info.yaml")}
    assert targets == entity_files


def test_platform_catalog_validate_accepts_the_sample() -> None:
    """What the README tells a newcomer to run: exit 0 and one valid JSON line per document."""
    platform = Path(sys.executable).with_name("platform")
    if not platform.exists():
        pytest.skip(f"{platform} is not installed; run bash scripts/setup.sh")
    result = subprocess.run(
        [str(platform), "catalog", "validate", str(CATALOG), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {line["ref"] for line in lines} == EXPECTED_REFS
    assert all(line["valid"] for line in lines)
