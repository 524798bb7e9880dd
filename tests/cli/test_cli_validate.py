"""`platform catalog validate`: local, no server; exit 1 and precise problems for bad documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from goldenpath.cli.main import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GOLDENPATH_HOME", str(tmp_path / "home"))
    return CliRunner()


def test_valid_file_exits_0(runner: CliRunner, catalog_tree: Path) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(catalog_tree / "org.yaml")])
    assert result.exit_code == 0, result.output
    assert "2 documents checked, all valid" in result.output
    assert not (catalog_tree.parent / "home" / "run" / "server.json").exists()  # no server


def test_invalid_document_exits_1_with_file_index_field_and_reason(
    runner: CliRunner, catalog_tree: Path
) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(catalog_tree)])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if "[document" in line]
    assert len(problems) == 1, result.output
    assert problems[0].startswith(f"{catalog_tree / 'components.yaml'} [document 2] metadata.name:")
    assert "Broken_Name!" in problems[0]
    assert "6 documents checked, 1 invalid" in result.output


def test_json_lines_one_object_per_document(runner: CliRunner, catalog_tree: Path) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(catalog_tree), "-o", "json"])
    assert result.exit_code == 1
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(verdicts) == 6
    assert all(set(v) == {"file", "index", "ref", "valid", "errors"} for v in verdicts)
    by_key = {(Path(v["file"]).name, v["index"]): v for v in verdicts}
    assert by_key[("components.yaml", 0)]["ref"] == "component:default/petstore"
    assert by_key[("components.yaml", 0)]["valid"] is True
    bad = by_key[("components.yaml", 2)]
    assert bad["valid"] is False
    assert [e["path"] for e in bad["errors"]] == ["metadata.name"]
    assert by_key[("org.yaml", 1)] == {
        "file": str(catalog_tree / "org.yaml"),
        "index": 1,
        "ref": "user:default/jane",
        "valid": True,
        "errors": [],
    }


def test_malformed_yaml_and_yaml_output(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n", encoding="utf-8")
    result = runner.invoke(app, ["catalog", "validate", str(broken), "-o", "yaml"])
    assert result.exit_code == 1
    verdicts = yaml.safe_load(result.stdout)
    assert verdicts[0]["file"] == str(broken) and verdicts[0]["valid"] is False
    assert verdicts[0]["errors"][0]["message"]


def test_missing_path_is_invalid_input(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: no such file or directory" in result.stderr
