"""fetch:template, fetch:plain and fetch:plain:file on real skeleton trees."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from scaffoldhelpers import Run, files_under, run, template_entity


def fetch(
    tmp_path: Path,
    skeleton: dict[str, str | bytes],
    values: dict[str, Any] | None = None,
    *,
    action: str = "fetch:template",
    **input: Any,
) -> Run:
    step_input: dict[str, Any] = {"url": "./skeleton", **input}
    if values is not None:
        step_input["values"] = values
    entity = template_entity([{"id": "fetch", "action": action, "input": step_input}])
    return run(tmp_path, entity, skeleton={f"skeleton/{k}": v for k, v in skeleton.items()})


def workspace(tmp_path: Path) -> dict[str, str]:
    return files_under(tmp_path / "workspace")


def test_contents_and_file_and_directory_names_are_rendered(tmp_path: Path) -> None:
    done = fetch(
        tmp_path,
        {
            "${{ values.name }}/__init__.py": "NAME = '${{ values.name | upper }}'\n",
            "${{ values.name }}/${{ values.name }}_test.py": (
                "{% for t in values.tags %}${{ t }};{% endfor %}"
            ),
            ".github/workflows/ci.yaml": "name: ${{ values.name }}\n",
            "empty/": "",
        },
        {"name": "orders", "tags": ["a", "b"]},
    )
    assert done.result.status == "completed", done.result.error
    assert workspace(tmp_path) == {
        "orders/__init__.py": "NAME = 'ORDERS'\n",
        "orders/orders_test.py": "a;b;",
        ".github/workflows/ci.yaml": "name: orders\n",
    }
    assert (tmp_path / "workspace/empty").is_dir()


def test_names_rendering_empty_are_skipped_like_backstage(tmp_path: Path) -> None:
    fetch(
        tmp_path,
        {
            "${{ values.db }}/schema.sql": "create table x();",
            "{% if values.ci %}.gitlab-ci.yml{% endif %}": "ci",
            "keep.txt": "k",
        },
        {"db": "", "ci": False},
    )
    assert workspace(tmp_path) == {"keep.txt": "k"}


def test_copy_without_templating_keeps_contents_but_renders_names(tmp_path: Path) -> None:
    fetch(
        tmp_path,
        {
            "docs/${{ values.name }}.md": "raw ${{ values.name }}",
            "docs/keep/${{ values.name }}.txt": "raw ${{ values.name }}",
            "src/main.py": "x = '${{ values.name }}'",
        },
        {"name": "svc"},
        copyWithoutTemplating=["docs/**"],
    )
    assert workspace(tmp_path) == {
        "docs/svc.md": "raw ${{ values.name }}",
        "docs/keep/svc.txt": "raw ${{ values.name }}",
        "src/main.py": "x = 'svc'",
    }


def test_copy_without_render_keeps_names_too(tmp_path: Path) -> None:
    fetch(
        tmp_path,
        {"raw/${{ values.name }}.md": "raw ${{ values.name }}", "a.txt": "${{ values.name }}"},
        {"name": "svc"},
        copyWithoutRender=["raw/*"],
    )
    assert workspace(tmp_path) == {
        "raw/${{ values.name }}.md": "raw ${{ values.name }}",
        "a.txt": "svc",
    }


@pytest.mark.parametrize("extension", [True, ".njk", "njk"])
def test_template_file_extension_renders_only_those_files(
    tmp_path: Path, extension: bool | str
) -> None:
    fetch(
        tmp_path,
        {
            "README.md.njk": "# ${{ values.name }}",
            ".github/ci.yaml": "run: ${{ github.sha }}",  # a GitHub expression, not ours
            "${{ values.name }}.txt": "plain",
        },
        {"name": "svc"},
        templateFileExtension=extension,
    )
    assert workspace(tmp_path) == {
        "README.md": "# svc",
        ".github/ci.yaml": "run: ${{ github.sha }}",
        "svc.txt": "plain",
    }


def test_target_path_and_replace(tmp_path: Path) -> None:
    fetch(tmp_path, {"a.txt": "new ${{ values.n }}"}, {"n": 1}, targetPath="sub/dir")
    assert workspace(tmp_path) == {"sub/dir/a.txt": "new 1"}
    # a second fetch into the same place keeps what exists unless replace is true
    entity = template_entity(
        [
            {
                "id": "one",
                "action": "fetch:template",
                "input": {"url": "./skeleton", "values": {"n": 1}},
            },
            {
                "id": "two",
                "action": "fetch:template",
                "input": {"url": "./other", "values": {"n": 2}},
            },
            {
                "id": "three",
                "action": "fetch:template",
                "input": {"url": "./other", "targetPath": "r", "values": {"n": 3}},
            },
            {
                "id": "four",
                "action": "fetch:template",
                "input": {
                    "url": "./skeleton",
                    "targetPath": "r",
                    "replace": True,
                    "values": {"n": 4},
                },
            },
        ]
    )
    files = {"skeleton/a.txt": "s${{ values.n }}", "other/a.txt": "o${{ values.n }}"}
    done = run(tmp_path / "second", entity, skeleton=files)
    assert files_under(tmp_path / "second/workspace") == {"a.txt": "s1", "r/a.txt": "s4"}
    assert "a.txt: it already exists (set replace: true to overwrite)" in done.log


def test_cookiecutter_compat_and_whitespace_control(tmp_path: Path) -> None:
    fetch(
        tmp_path,
        {"{{ cookiecutter.name }}.txt": "{{ cookiecutter.name | upper }}"},
        {"name": "svc"},
        cookiecutterCompat=True,
    )
    assert workspace(tmp_path) == {"svc.txt": "SVC"}
    fetch(
        tmp_path / "trim",
        {"list.txt": "{% for x in values.xs %}\n  {% if x %}${{ x }}\n  {% endif %}\n{% endfor %}"},
        {"xs": ["a", "b"]},
        trimBlocks=True,
        lstripBlocks=True,
    )
    assert files_under(tmp_path / "trim/workspace") == {"list.txt": "a\nb\n"}


def test_binary_files_are_copied_byte_for_byte_and_modes_are_kept(tmp_path: Path) -> None:
    blob = b"\x89PNG\r\n\x1a\n\0${{ values.name }}\xff"
    skeleton = {
        "logo.png": blob,
        "latin1.txt": "caf\xe9".encode("latin-1"),
        "run.sh": "#!/bin/sh\necho ${{ values.name }}\n",
    }
    entity = template_entity(
        [
            {
                "id": "f",
                "action": "fetch:template",
                "input": {"url": "./skeleton", "values": {"name": "x"}},
            }
        ]
    )
    (tmp_path / "template/skeleton").mkdir(parents=True)
    for name, data in skeleton.items():
        path = tmp_path / "template/skeleton" / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp_path / "template/skeleton/run.sh", 0o755)
    run(tmp_path, entity)
    out = tmp_path / "workspace"
    assert (out / "logo.png").read_bytes() == blob
    assert (out / "latin1.txt").read_bytes() == "caf\xe9".encode("latin-1")
    assert (out / "run.sh").read_text() == "#!/bin/sh\necho x\n"
    assert os.stat(out / "run.sh").st_mode & 0o777 == 0o755


def test_links_inside_the_skeleton_are_kept_as_links(tmp_path: Path) -> None:
    fetch(tmp_path, {"docs/index.md": "hi", "README.md": "-> docs/index.md"}, {})
    link = tmp_path / "workspace/README.md"
    assert link.is_symlink() and os.readlink(link) == "docs/index.md"
    assert link.read_text() == "hi"


def test_a_render_error_names_the_file(tmp_path: Path) -> None:
    done = fetch(tmp_path, {"src/app.py": "x = ${{ values.name | nosuchfilter }}"}, {"name": "x"})
    assert done.result.status == "failed"
    assert "src/app.py" in (done.result.error or "")
    assert "nosuchfilter" in (done.result.error or "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://github.com/org/repo/tree/main/skeleton",
            "remote fetch URLs are not supported yet",
        ),
        ("./missing", "does not exist"),
        ("./skeleton/a.txt", "must be a directory"),
    ],
)
def test_bad_urls_fail_clearly(tmp_path: Path, url: str, message: str) -> None:
    entity = template_entity([{"id": "f", "action": "fetch:template", "input": {"url": url}}])
    done = run(tmp_path, entity, skeleton={"skeleton/a.txt": "a"})
    assert done.result.status == "failed"
    assert message in (done.result.error or "")


def test_fetch_plain_copies_a_directory_unchanged(tmp_path: Path) -> None:
    done = fetch(
        tmp_path,
        {"a/${{ values.x }}.txt": "${{ values.x }}", ".hidden": "h"},
        action="fetch:plain",
        targetPath="vendor",
    )
    assert done.result.status == "completed", done.result.error
    assert workspace(tmp_path) == {
        "vendor/a/${{ values.x }}.txt": "${{ values.x }}",
        "vendor/.hidden": "h",
    }


def test_fetch_plain_file_copies_one_file_and_needs_a_target(tmp_path: Path) -> None:
    entity = template_entity(
        [
            {
                "id": "f",
                "action": "fetch:plain:file",
                "input": {"url": "./files/LICENSE", "targetPath": "LICENSE.txt"},
            }
        ]
    )
    run(tmp_path, entity, skeleton={"files/LICENSE": "MIT ${{ x }}"})
    assert workspace(tmp_path) == {"LICENSE.txt": "MIT ${{ x }}"}
    missing = template_entity(
        [{"id": "f", "action": "fetch:plain:file", "input": {"url": "./files/LICENSE"}}]
    )
    done = run(tmp_path / "m", missing, skeleton={"files/LICENSE": "MIT"})
    assert "input: 'targetPath' is a required property" in (done.result.error or "")


def test_a_directory_from_an_earlier_step_can_be_fetched_by_absolute_path(tmp_path: Path) -> None:
    ws = tmp_path / "workspace"
    entity = template_entity(
        [
            {
                "id": "a",
                "action": "fetch:plain",
                "input": {"url": "./skeleton", "targetPath": "stage"},
            },
            {
                "id": "b",
                "action": "fetch:template",
                "input": {"url": f"{ws.resolve()}/stage", "targetPath": "out", "values": {"n": 7}},
            },
        ]
    )
    done = run(tmp_path, entity, skeleton={"skeleton/x.txt": "${{ values.n }}"})
    assert done.result.status == "completed", done.result.error
    assert (ws / "out/x.txt").read_text() == "7"


def test_copying_the_workspace_into_itself_copies_each_file_once(tmp_path: Path) -> None:
    ws = (tmp_path / "workspace").resolve()
    entity = template_entity(
        [
            {"id": "a", "action": "fetch:plain", "input": {"url": "./skeleton"}},
            {"id": "b", "action": "fetch:plain", "input": {"url": str(ws), "targetPath": "copy"}},
        ]
    )
    done = run(tmp_path, entity, skeleton={"skeleton/x.txt": "x", "skeleton/d/y.txt": "y"})
    assert done.result.status == "completed", done.result.error
    assert workspace(tmp_path) == {
        "x.txt": "x",
        "d/y.txt": "y",
        "copy/x.txt": "x",
        "copy/d/y.txt": "y",
    }
