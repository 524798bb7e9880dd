"""Entity references parse and print exactly as Backstage's parseEntityRef/stringifyEntityRef."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath.catalog.refs import EntityRef, parse_entity_ref, ref_of
from goldenpath.errors import InvalidInput


@pytest.mark.parametrize(
    ("ref", "defaults", "expected"),
    [
        ("component:default/petstore", {}, ("component", "default", "petstore")),
        ("Component:Team-A/PetStore", {}, ("Component", "Team-A", "PetStore")),
        ("group:team-a", {}, ("group", "default", "team-a")),
        ("team-a", {"default_kind": "Group"}, ("Group", "default", "team-a")),
        ("ops/team-a", {"default_kind": "Group"}, ("Group", "ops", "team-a")),
        (
            "team-a",
            {"default_kind": "Group", "default_namespace": "ops"},
            ("Group", "ops", "team-a"),
        ),
        # a '/' before the ':' means there is no kind: the rest is the name
        ("ns/name:with-colon", {"default_kind": "API"}, ("API", "ns", "name:with-colon")),
        ("url:https://x", {}, ("url", "https:", "/x")),
        ({"kind": "User", "name": "jdoe"}, {}, ("User", "default", "jdoe")),
        ({"name": "jdoe"}, {"default_kind": "User"}, ("User", "default", "jdoe")),
        ({"kind": "User", "namespace": "hr", "name": "jdoe"}, {}, ("User", "hr", "jdoe")),
    ],
)
def test_parse_entity_ref_follows_backstage(
    ref: str | dict[str, Any], defaults: dict[str, str], expected: tuple[str, str, str]
) -> None:
    assert parse_entity_ref(ref, **defaults) == EntityRef(*expected)


@pytest.mark.parametrize(
    ("ref", "defaults", "message"),
    [
        (
            "component:",
            {},
            'Entity reference "component:" was not on the form [<kind>:][<namespace>/]<name>',
        ),
        (":x", {}, "was not on the form [<kind>:][<namespace>/]<name>"),
        ("component:/x", {}, "was not on the form"),
        ("a/", {"default_kind": "Group"}, "was not on the form"),
        ("sage-packs", {}, 'Entity reference "sage-packs" had missing or empty kind'),
        ("", {}, "Entity reference must not be empty"),
        ({"kind": "Group"}, {}, "had missing or empty name"),
        ({"kind": "Group", "name": 5}, {}, "non-string name"),
        (["group:a"], {}, "must be a string of the form"),
    ],
)
def test_bad_references_say_which_form_is_expected(
    ref: Any, defaults: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_entity_ref(ref, **defaults)
    assert message in info.value.message


def test_string_form_is_fully_lower_cased_like_stringify_entity_ref() -> None:
    ref = EntityRef("Component", "Team-A", "PetStore")
    assert ref.key() == "component:team-a/petstore"
    assert str(ref) == ref.key()
    assert ref.display() == "component:Team-A/PetStore"


def test_ref_of_reads_kind_namespace_and_name_with_default_namespace() -> None:
    entity = {"kind": "API", "metadata": {"name": "Orders"}}
    assert ref_of(entity) == EntityRef("API", "default", "Orders")
    entity["metadata"]["namespace"] = "shop"
    assert ref_of(entity).key() == "api:shop/orders"


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"metadata": {"name": "x"}}, "set the root field `kind`"),
        ({"kind": "API", "metadata": {}}, "set `metadata.name`"),
        ({"kind": "API"}, "set `metadata.name`"),
    ],
)
def test_ref_of_names_the_missing_field(entity: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("`", ".")):
        ref_of(entity)
