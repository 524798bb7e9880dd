"""Catalog files parse as YAML 1.2, with Backstage's limits and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath.catalog.yamldocs import parse_documents


def _one(text: str, **kwargs: Any) -> Any:
    docs = parse_documents(text, source="catalog-info.yaml", **kwargs)
    assert len(docs) == 1
    assert docs[0].error is None, docs[0].error
    return docs[0].data


@pytest.mark.parametrize(
    ("scalar", "value"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("2020-01-01", "2020-01-01"),
        ("1_000", "1_000"),
        ("12:30", "12:30"),
        ("true", True),
        ("False", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("012", 12),
        ("0o17", 15),
        ("0x1F", 31),
        ("-7", -7),
        ("1.5e3", 1500.0),
        (".5", 0.5),
        ("-.inf", float("-inf")),
        ("'0o17'", "0o17"),
        ('"true"', "true"),
        ("!!str 12", "12"),
    ],
)
def test_scalars_resolve_with_the_yaml_1_2_core_schema(scalar: str, value: Any) -> None:
    assert _one(f"v: {scalar}\n") == {"v": value}


def test_nan_is_a_float() -> None:
    value = _one("v: .nan\n")["v"]
    assert value != value


def test_keys_become_strings_and_merge_keys_are_ordinary_keys() -> None:
    data = _one("1: a\ntrue: b\nnull: c\nbase: &b {x: 1}\nm:\n  <<: *b\n")
    assert data == {"1": "a", "true": "b", "": "c", "base": {"x": 1}, "m": {"<<": {"x": 1}}}


def test_empty_documents_are_kept_as_empty_in_their_position() -> None:
    docs = parse_documents("---\n---\nkind: A\n---\n# only a comment\n", source="f.yaml")
    assert [(d.index, d.empty) for d in docs] == [(0, True), (1, False), (2, True)]
    assert docs[1].data == {"kind": "A"}


@pytest.mark.parametrize(
    ("text", "index", "fragments"),
    [
        ("a: [1,\n", 0, ["f.yaml", "line 2, column 1", "did not find expected node content"]),
        ("a: 1\n b: 2\n", 0, ["f.yaml", "line 2, column 3", "mapping values are not allowed"]),
        ("ok: 1\n---\nx: 'unterminated\n", 1, ["line 4", "found unexpected end of stream"]),
        (
            "metadata:\n  name: a\n  name: b\n",
            0,
            ["Map keys must be unique", "'name'", "line 3, column 3"],
        ),
        (
            "- a\n- b\n",
            0,
            ["Expected object at root, got array", "document 0 of f.yaml", "mapping"],
        ),
        ("just a string\n", 0, ["Expected object at root, got str"]),
        ("kind: A\n---\n42\n", 1, ["Expected object at root", "document 1"]),
        ("a: *nothing\n", 0, ["found undefined alias", "line 1"]),
    ],
)
def test_bad_yaml_names_file_document_and_position(
    text: str, index: int, fragments: list[str]
) -> None:
    docs = parse_documents(text, source="f.yaml")
    bad = [d for d in docs if d.error is not None]
    assert [d.index for d in bad] == [index]
    error = bad[0].error
    assert error is not None and error.stage == "parse" and error.path == ""
    for fragment in fragments:
        assert fragment in error.message


def test_documents_before_a_syntax_error_survive() -> None:
    docs = parse_documents("kind: A\n---\nkind: [\n", source="f.yaml")
    assert docs[0].data == {"kind": "A"}
    assert docs[1].error is not None


def test_a_document_over_the_size_limit_is_rejected_with_the_limit_named() -> None:
    big = "a: " + "x" * 2_000 + "\n"
    docs = parse_documents("small: 1\n---\n" + big, source="f.yaml", max_bytes=1_000)
    assert docs[0].error is None
    assert docs[1].error is not None
    assert "document 1 is larger than 1000 bytes" in docs[1].error.message
    assert "split the file" in docs[1].error.message


def test_the_default_limit_is_one_megabyte_counted_in_utf8_bytes() -> None:
    # 400,000 three-byte characters: 1.2 MB of UTF-8 in 400,000 characters
    docs = parse_documents("a: " + "€" * 400_000 + "\n", source="f.yaml")
    assert docs[0].error is not None
    assert "documents over 1 MB are rejected" in docs[0].error.message


def _aliases(n: int) -> str:
    return "a: &a x\nb: [" + ",".join(["*a"] * n) + "]\n"


def test_alias_budget_matches_the_yaml_npm_package() -> None:
    # yaml 2.x counts the anchor itself: 99 aliases of a scalar pass, 100 fail
    assert parse_documents(_aliases(99), source="f.yaml")[0].error is None
    error = parse_documents(_aliases(100), source="f.yaml")[0].error
    assert error is not None
    assert "Excessive alias count indicates a resource exhaustion attack" in error.message


def test_nested_alias_bombs_are_stopped_early() -> None:
    bomb = "a: &a [1,2]\nb: &b [" + ",".join(["*a"] * 10) + "]\nc: [" + ",".join(["*b"] * 9) + "]\n"
    assert parse_documents(bomb, source="f.yaml")[0].error is not None
    small = (
        "a: &a [1,2]\nb: &b [" + ",".join(["*a"] * 10) + "]\nc: [" + ",".join(["*b"] * 8) + "]\n"
    )
    assert parse_documents(small, source="f.yaml")[0].error is None


def test_the_alias_budget_is_configurable_and_per_document() -> None:
    text = _aliases(5) + "---\n" + _aliases(5)
    assert all(d.error is None for d in parse_documents(text, source="f", max_aliases=6))
    assert all(d.error is not None for d in parse_documents(text, source="f", max_aliases=5))


def test_bytes_input_handles_bom_and_reports_invalid_utf8() -> None:
    assert parse_documents(b"\xef\xbb\xbfkind: A\n", source="f")[0].data == {"kind": "A"}
    error = parse_documents(b"kind: \xff\n", source="f.yaml")[0].error
    assert error is not None and "f.yaml is not valid UTF-8" in error.message


def test_dollar_keys_are_flagged_for_placeholder_processing() -> None:
    plain, placeholder = parse_documents("a: {b: 1}\n---\na: {$text: ./x}\n", source="f")
    assert not plain.has_dollar_keys
    assert placeholder.has_dollar_keys
