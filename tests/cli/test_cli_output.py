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
