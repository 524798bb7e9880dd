"""Relations come from spec fields in symmetric pairs, as in BuiltinKindsEntityProcessor."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath.catalog.model import Relation
from goldenpath.catalog.relations import RELATION_PAIRS, derive_relations
from goldenpath.errors import InvalidInput


def entity(
    kind: str,
    spec: dict[str, Any],
    *,
    namespace: str | None = None,
    api: str = "backstage.io/v1alpha1",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "Self"}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec}


def outgoing(e: dict[str, Any]) -> set[tuple[str, str]]:
    me = f"{e['kind']}:{e['metadata'].get('namespace', 'default')}/self".lower()
    return {(r.type, r.target) for r in derive_relations(e) if r.source == me}


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("Component", {"owner": "team-a"}, {("ownedBy", "group:default/team-a")}),
        ("Component", {"owner": "user:jdoe"}, {("ownedBy", "user:default/jdoe")}),
        ("Component", {"system": "shop"}, {("partOf", "system:default/shop")}),
        ("Component", {"subcomponentOf": "web"}, {("partOf", "component:default/web")}),
        (
            "Component",
            {"providesApis": ["orders", "api:ops/health"]},
            {("providesApi", "api:default/orders"), ("providesApi", "api:ops/health")},
        ),
        ("Component", {"consumesApis": ["Orders"]}, {("consumesApi", "api:default/orders")}),
        (
            "Component",
            {"dependsOn": ["resource:db", "component:other/x"]},
            {("dependsOn", "resource:default/db"), ("dependsOn", "component:other/x")},
        ),
        (
            "Component",
            {"dependencyOf": ["component:web"]},
            {("dependencyOf", "component:default/web")},
        ),
        (
            "API",
            {"owner": "team-a", "system": "shop"},
            {("ownedBy", "group:default/team-a"), ("partOf", "system:default/shop")},
        ),
        (
            "Resource",
            {"owner": "team-a", "dependsOn": ["resource:s3"], "system": "shop"},
            {
                ("ownedBy", "group:default/team-a"),
                ("dependsOn", "resource:default/s3"),
                ("partOf", "system:default/shop"),
            },
        ),
        (
            "System",
            {"owner": "team-a", "domain": "retail"},
            {("ownedBy", "group:default/team-a"), ("partOf", "domain:default/retail")},
        ),
        (
            "Domain",
            {"owner": "team-a", "subdomainOf": "all"},
            {("ownedBy", "group:default/team-a"), ("partOf", "domain:default/all")},
        ),
        (
            "User",
            {"memberOf": ["team-a", "group:ops/sre"]},
            {("memberOf", "group:default/team-a"), ("memberOf", "group:ops/sre")},
        ),
        (
            "Group",
            {"parent": "eng", "children": ["web"], "members": ["jdoe"]},
            {
                ("childOf", "group:default/eng"),
                ("parentOf", "group:default/web"),
                ("hasMember", "user:default/jdoe"),
            },
        ),
        ("Location", {"targets": ["./a.yaml"]}, set()),
    ],
)
def test_spec_fields_produce_well_known_relations(
    kind: str, spec: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert outgoing(entity(kind, spec)) == expected


def test_every_relation_has_its_inverse() -> None:
    e = entity(
        "Component",
        {
            "owner": "team-a",
            "system": "shop",
            "providesApis": ["orders"],
            "dependsOn": ["resource:db"],
        },
    )
    relations = set(derive_relations(e))
    for r in relations:
        assert Relation(r.target, RELATION_PAIRS[r.type], r.source) in relations
    assert Relation("group:default/team-a", "ownerOf", "component:default/self") in relations
    assert Relation("system:default/shop", "hasPart", "component:default/self") in relations
    assert Relation("api:default/orders", "apiProvidedBy", "component:default/self") in relations
    assert Relation("resource:default/db", "dependencyOf", "component:default/self") in relations


def test_targets_default_to_the_entitys_own_namespace() -> None:
    e = entity("Component", {"owner": "team-a", "system": "default/shop"}, namespace="payments")
    assert outgoing(e) == {("ownedBy", "group:payments/team-a"), ("partOf", "system:default/shop")}


def test_template_owner_relation_only_for_v1beta3() -> None:
    spec = {"owner": "team-a", "type": "service", "steps": []}
    assert outgoing(entity("Template", spec, api="scaffolder.backstage.io/v1beta3")) == {
        ("ownedBy", "group:default/team-a")
    }
    assert outgoing(entity("Template", spec, api="scaffolder.backstage.io/v1beta2")) == set()


def test_kinds_match_case_sensitively_like_backstage() -> None:
    assert derive_relations(entity("component", {"owner": "team-a"})) == []


def test_duplicate_targets_give_one_relation_pair() -> None:
    e = entity("User", {"memberOf": ["team-a", "group:team-a", "Team-A"]})
    assert len(derive_relations(e)) == 2


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"dependsOn": ["sage-packs"]},
            'spec.dependsOn.0: Entity reference "sage-packs" had missing or empty kind',
        ),
        ({"dependsOn": ["sage-packs"]}, "this field has no default kind, write it as kind:name"),
        ({"owner": "group:"}, 'spec.owner: Entity reference "group:" was not on the form'),
        ({"providesApis": ["ok", 5]}, "spec.providesApis.1: expected an entity reference string"),
    ],
)
def test_bad_targets_raise_with_the_field_named(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        derive_relations(entity("Component", spec))
    assert fragment in info.value.message
