"""fs:rename, fs:delete and debug:log on real workspaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaffoldhelpers import Run, build_tree, files_under, run, template_entity


def steps_on(tmp_path: Path, files: dict[str, str], steps: list[dict[str, Any]]) -> Run:
    """Copy ``files`` into the workspace with fetch:plain, then run ``steps``."""
    fetch = {"id": "seed", "action": "fetch:plain", "input": {"url": "./seed"}}
    seed = {f"seed/{k}": v for k, v in files.items()}
    return run(tmp_path, template_entity([fetch, *steps]), skeleton=seed)


def test_rename_moves_files_and_directories(tmp_path: Path) -> None:
    done = steps_on(
        tmp_path,
        {"a.txt": "a", "dir/b.txt": "b"},
        [
            {
                "id": "mv",
                "action": "fs:rename",
                "input": {
                    "files": [
                        {"from": "a.txt", "to": "new/place/a.md"},
                        {"from": "dir", "to": "moved"},
                    ]
                },
            }
        ],
    )
    assert done.result.status == "completed", done.result.error
    assert files_under(tmp_path / "workspace") == {"new/place/a.md": "a", "moved/b.txt": "b"}
    assert "Renamed a.txt to new/place/a.md" in done.log


def test_rename_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    move = {"from": "a.txt", "to": "b.txt"}
    refused = steps_on(
        tmp_path / "1",
        {"a.txt": "a", "b.txt": "b"},
        [{"id": "mv", "action": "fs:rename", "input": {"files": [move]}}],
    )
    assert "files[0].to: 'b.txt' already exists; set overwrite: true" in (
        refused.result.error or ""
    )
    assert files_under(tmp_path / "1/workspace") == {"a.txt": "a", "b.txt": "b"}
    forced = steps_on(
        tmp_path / "2",
        {"a.txt": "a", "b.txt": "b"},
        [{"id": "mv", "action": "fs:rename", "input": {"files": [{**move, "overwrite": True}]}}],
    )
    assert forced.result.status == "completed"
    assert files_under(tmp_path / "2/workspace") == {"b.txt": "a"}


def test_rename_of_a_missing_file_names_it(tmp_path: Path) -> None:
    done = steps_on(
        tmp_path,
        {"a": "a"},
        [{"id": "mv", "action": "fs:rename", "input": {"files": [{"from": "nope", "to": "x"}]}}],
    )
    assert "files[0].from: 'nope' does not exist" in (done.result.error or "")


def test_delete_removes_globs_including_hidden_files_and_directories(tmp_path: Path) -> None:
    done = steps_on(
        tmp_path,
        {
            "keep.py": "k",
            "a.tmp": "1",
            "deep/er/b.tmp": "2",
            ".env.tmp": "3",
            "docs/x.md": "x",
            "none/": "",
        },
        [
            {
                "id": "rm",
                "action": "fs:delete",
                "input": {"files": ["**/*.tmp", "docs", "nothing-matches-*"]},
            }
        ],
    )
    assert done.result.status == "completed", done.result.error
    assert files_under(tmp_path / "workspace") == {"keep.py": "k"}
    assert not (tmp_path / "workspace/docs").exists()


def test_debug_log_writes_the_message_and_lists_the_workspace(tmp_path: Path) -> None:
    done = steps_on(
        tmp_path,
        {"a.txt": "alpha", "sub/b.txt": "beta"},
        [
            {
                "id": "l1",
                "action": "debug:log",
                "input": {"message": "hello", "listWorkspace": True},
            },
            {"id": "l2", "action": "debug:log", "input": {"listWorkspace": "with-contents"}},
        ],
    )
    lines = [(e.step_id, e.message) for e in done.events if e.type == "log"]
    assert ("l1", "hello") in lines
    assert ("l1", "Workspace: a.txt") in lines and ("l1", "Workspace: sub/b.txt") in lines
    assert ("l2", "Workspace: a.txt\nalpha") in lines


def test_debug_log_refuses_a_bad_list_option(tmp_path: Path) -> None:
    build_tree(tmp_path, {})
    done = run(
        tmp_path,
        template_entity(
            [{"id": "l", "action": "debug:log", "input": {"listWorkspace": "everything"}}]
        ),
    )
    assert done.result.status == "failed"
    assert "invalid input passed to action debug:log: input.listWorkspace" in (
        done.result.error or ""
    )
