"""Backstage query syntax, parsed without a database: filters, order, cursors, projection."""

from __future__ import annotations

import pytest

from goldenpath.catalog import filters as qf
from goldenpath.errors import InvalidInput


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, ()),
        ([], ()),
        (
            ["kind=Component,spec.type=Service"],
            ((qf.Condition("kind", ("component",)), qf.Condition("spec.type", ("service",))),),
        ),
        (
            ["kind=api", "kind=group"],
            ((qf.Condition("kind", ("api",)),), (qf.Condition("kind", ("group",)),)),
        ),
        (["kind=api,kind=group"], ((qf.Condition("kind", ("api", "group")),),)),
        (["spec.definition"], ((qf.Condition("spec.definition", None),),)),
        (
            ["metadata.annotations.backstage.io/techdocs-ref=url:https://x/y=z"],
            (
                (
                    qf.Condition(
                        "metadata.annotations.backstage.io/techdocs-ref", ("url:https://x/y=z",)
                    ),
                ),
            ),
        ),
        ({"kind": ["API", "Group"]}, ((qf.Condition("kind", ("api", "group")),),)),
    ],
)
def test_parse_filters(params: object, expected: qf.FilterSet) -> None:
    assert qf.parse_filters(params) == expected  # type: ignore[arg-type]


def test_filter_without_key_is_rejected_with_the_expected_form() -> None:
    with pytest.raises(InvalidInput, match="key=value"):
        qf.parse_filters(["=service"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name", qf.Order("metadata.name")),
        ("metadata.name,desc", qf.Order("metadata.name", True)),
        ("desc:Spec.Type", qf.Order("spec.type", True)),
        ("asc:kind", qf.Order("kind")),
    ],
)
def test_parse_order(text: str, expected: qf.Order) -> None:
    assert qf.parse_order(text) == expected


def test_cursor_round_trip_and_tampering() -> None:
    cursor = qf.Cursor(
        qf.parse_filters(["kind=component"]),
        "pay",
        qf.Order("metadata.name"),
        "b",
        "component:default/b",
    )
    assert qf.decode_cursor(qf.encode_cursor(cursor)) == cursor
    with pytest.raises(InvalidInput, match="nextCursor"):
        qf.decode_cursor(qf.encode_cursor(cursor)[:-5])


def test_project_keeps_only_named_paths() -> None:
    entity = {"kind": "Component", "metadata": {"name": "a", "tags": ["x"]}, "spec": {"type": "s"}}
    assert qf.project(entity, "metadata.name,kind,spec.missing") == {
        "metadata": {"name": "a"},
        "kind": "Component",
    }
    assert qf.project(entity, None) == entity


def test_fulltext_terms_split_on_punctuation() -> None:
    assert qf.fulltext_terms('Payments-API "drop"; x*') == ["payments", "api", "drop", "x"]
