"""Location targets: what files a file/glob/dir/git target means, and Location entity following."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from goldenpath.catalog import locations
from goldenpath.errors import Forbidden, InvalidInput, NotFound


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://github.com/o/r/blob/main/catalog-info.yaml",
            ("https://github.com/o/r", "main", "catalog-info.yaml"),
        ),
        ("https://github.com/o/r/tree/dev/services", ("https://github.com/o/r", "dev", "services")),
        ("https://gitlab.com/g/r/-/blob/v1/a/b.yaml", ("https://gitlab.com/g/r", "v1", "a/b.yaml")),
        ("https://github.com/o/r.git", ("https://github.com/o/r.git", None, None)),
        ("/srv/repos/r", ("/srv/repos/r", None, None)),
    ],
)
def test_parse_git_url(url: str, expected: tuple[str, str | None, str | None]) -> None:
    assert locations.parse_git_url(url) == expected


def test_expand_path_file_dir_glob(tmp_path: Path, file_tree: Any) -> None:
    file_tree(
        tmp_path,
        {
            "a.yaml": "x",
            "b/c.yml": "x",
            "b/d.txt": "x",
            "node_modules/e.yaml": "x",
            ".git/f.yaml": "x",
        },
    )
    assert locations.expand_path(tmp_path / "a.yaml") == [tmp_path / "a.yaml"]
    assert locations.expand_path(tmp_path) == [tmp_path / "a.yaml", tmp_path / "b" / "c.yml"]
    assert locations.expand_path(tmp_path / "**" / "*.yml") == [tmp_path / "b" / "c.yml"]
    assert locations.expand_path(tmp_path / "missing.yaml") == []


def test_check_allowed(tmp_path: Path) -> None:
    locations.check_allowed(Path("/etc/passwd"), [], what="file")
    locations.check_allowed(tmp_path / "x", [tmp_path], what="file")
    with pytest.raises(Forbidden, match="allowed_roots"):
        locations.check_allowed(tmp_path / ".." / "elsewhere", [tmp_path], what="file")


def test_resolve_registered_errors(tmp_path: Path) -> None:
    git = locations.GitReader(tmp_path / "cache")
    with pytest.raises(InvalidInput, match="absolute"):
        locations.resolve_registered("file", "relative/x.yaml", roots=[], git=git, parent_ref="p")
    with pytest.raises(NotFound):
        locations.resolve_registered(
            "file", str(tmp_path / "nope"), roots=[], git=git, parent_ref="p"
        )
    with pytest.raises(InvalidInput, match="not supported"):
        locations.resolve_registered("s3", "bucket", roots=[], git=git, parent_ref="p")


def test_failed_clone_is_remembered_per_reader(tmp_path: Path) -> None:
    git = locations.GitReader(tmp_path / "cache", timeout=30)
    for _ in range(2):
        with pytest.raises(InvalidInput, match="failed"):
            git.checkout(str(tmp_path / "not-a-repo"), None)
    assert list((tmp_path / "cache").iterdir()) == []


def test_real_files_match_expand_path_resolved(tmp_path: Path, file_tree: Any) -> None:
    file_tree(
        tmp_path / "real",
        {"a.yaml": "x", "b/c.yml": "x", "b/z/d.yaml": "x", "c/e.yaml": "x", ".h/f.yaml": "x"},
    )
    (tmp_path / "link").symlink_to(tmp_path / "real")  # the registered path goes through a link
    target = tmp_path / "link"
    expected = [p.resolve() for p in locations.expand_path(target)]
    assert locations.real_files(target, [tmp_path]) == expected
    assert expected[0] == tmp_path / "real" / "a.yaml"
    glob = target / "**" / "*.yaml"
    assert locations.real_files(glob, []) == [p.resolve() for p in locations.expand_path(glob)]


def test_symlinked_file_may_not_leave_the_allowed_roots(tmp_path: Path, file_tree: Any) -> None:
    file_tree(tmp_path, {"root/ok.yaml": "x", "outside/secret.yaml": "x"})
    root = tmp_path / "root"
    (root / "inside.yaml").symlink_to(root / "ok.yaml")
    git = locations.GitReader(tmp_path / "cache")
    found = locations.resolve_registered("file", str(root), roots=[root], git=git, parent_ref="p")
    # a link inside the root is read under its real path
    assert [f.key for f in found] == [f"file:{root / 'ok.yaml'}", f"file:{root / 'ok.yaml'}"]
    (root / "escape.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    for target in (root, root / "*.yaml", root / "escape.yaml"):
        with pytest.raises(Forbidden, match="outside the allowed roots"):
            locations.resolve_registered("file", str(target), roots=[root], git=git, parent_ref="p")
    # without allowed roots anything goes (the default of a single-user install)
    found = locations.resolve_registered("file", str(root), roots=[], git=git, parent_ref="p")
    assert f"file:{tmp_path / 'outside' / 'secret.yaml'}" in [f.key for f in found]
