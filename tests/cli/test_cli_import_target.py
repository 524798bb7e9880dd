"""How `platform catalog import` turns its argument into a Backstage location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from goldenpath.cli.commands._import import location_for
from goldenpath.errors import InvalidInput


@pytest.mark.parametrize(
    "argument",
    [
        "https://github.com/backstage/backstage.git",
        "https://gitlab.example.com/team/repo",
        "file:///srv/git/catalog.git",
        "git@github.com:org/repo.git",
        "ssh://git@host/org/repo",
        "/srv/git/bare-repo.git",
    ],
)
def test_urls_and_git_paths_become_url_locations(argument: str) -> None:
    assert location_for(argument) == {"type": "url", "target": argument}


def test_local_paths_become_absolute_normalised_file_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "catalog-info.yaml").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "catalog")
    assert location_for("catalog-info.yaml") == {
        "type": "file",
        "target": str(tmp_path / "catalog" / "catalog-info.yaml"),
    }
    assert location_for("../catalog") == {"type": "file", "target": str(tmp_path / "catalog")}
    glob = location_for("*.yaml")
    assert glob["type"] == "file" and glob["target"] == os.path.join(tmp_path, "catalog", "*.yaml")


def test_missing_local_path_is_invalid_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"nope\.yaml: no such file or directory"):
        location_for(str(tmp_path / "nope.yaml"))


def test_forced_type_wins(tmp_path: Path) -> None:
    assert location_for(str(tmp_path), "url") == {"type": "url", "target": str(tmp_path)}
