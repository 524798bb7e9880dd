"""--output: json and yaml round-trip the same data; tables are for people."""

from __future__ import annotations

import json

import pytest
import yaml

from goldenpath.cli import output
from goldenpath.cli.output import OutputFormat

DATA = {"items": [{"kind": "Component", "metadata": {"name": "a", "tags": ["x"]}}], "n": 1}


def test_json_and_yaml_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    output.emit(DATA, OutputFormat.json)
    assert json.loads(capsys.readouterr().out) == DATA
    output.emit(DATA, OutputFormat.yaml)
    assert yaml.safe_load(capsys.readouterr().out) == DATA


def test_table_uses_the_builder_and_falls_back_to_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    output.emit(DATA, OutputFormat.table, lambda d: output.make_table(["N"], [[d["n"]]]))
    assert "N" in capsys.readouterr().out
    output.emit(DATA, OutputFormat.table)
    assert yaml.safe_load(capsys.readouterr().out) == DATA


def test_json_lines_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    output.emit_json_line({"a": 1})
    output.emit_json_line({"b": [1, 2]})
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1}, {"b": [1, 2]}]


def _wide_table(data: object) -> object:
    refs = [f"component:default/{'very-long-service-name-' * 3}{i}" for i in range(3)]
    return output.make_table(
        ["REF", "OWNER", "DESCRIPTION"],
        [[ref, "group:default/storefront-team", "serves the checkout page " * 3] for ref in refs],
    )


def test_a_piped_table_keeps_whole_values_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    output.emit({}, OutputFormat.table, _wide_table)
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if "very-long-service-name" in line]
    assert len(rows) == 3 and max(len(line) for line in lines) > 150
    assert all("group:default/storefront-team" in row for row in rows)


def test_columns_still_sets_the_width_of_a_piped_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    output.emit({}, OutputFormat.table, _wide_table)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 70
    assert not any("group:default/storefront-team" in line for line in lines)  # folded
