"""Scaffolder actions ``fetch:template``, ``fetch:plain`` and ``fetch:plain:file``.

Backstage docs: "Builtin actions" and the ``fetch:template`` reference
(https://backstage.io/docs/features/software-templates/builtin-actions). ``url`` is a path
relative to the template's directory (``./skeleton``); remote URLs are not supported yet
and fail with a clear message. Nothing is read outside the template's directory and the
workspace, and nothing is written outside the workspace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.actions.base import Action, ActionContext
from goldenpath.scaffolder.expressions import render_string
from goldenpath.scaffolder.workspace import (
    Entry,
    copy_entry,
    glob_entries,
    is_binary,
    safe_path,
    source_path,
    walk_tree,
)

__all__ = ["ACTIONS"]

_GLOBS = {"type": "array", "items": {"type": "string"}}

TEMPLATE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {
            "type": "string",
            "title": "Fetch URL",
            "description": "Path of the skeleton directory, relative to the template (./skeleton)",
        },
        "targetPath": {
            "type": "string",
            "title": "Target Path",
            "description": "Where to write the files, relative to the workspace",
        },
        "values": {"type": "object", "title": "Template Values"},
        "copyWithoutRender": {
            **_GLOBS,
            "title": "[Deprecated] Copy Without Render",
            "description": "Globs of files and directories copied as-is, names included",
        },
        "copyWithoutTemplating": {
            **_GLOBS,
            "title": "Copy Without Templating",
            "description": "Globs of files copied without rendering their contents "
            "(their names are still rendered)",
        },
        "cookiecutterCompat": {
            "type": "boolean",
            "description": "Render {{ cookiecutter.x }} like cookiecutter templates",
        },
        "templateFileExtension": {
            "type": ["string", "boolean"],
            "description": "Only files with this extension (true: .njk) are rendered; "
            "the extension is stripped",
        },
        "replace": {
            "type": "boolean",
            "description": "Overwrite files that already exist in the workspace",
        },
        "trimBlocks": {"type": "boolean"},
        "lstripBlocks": {"type": "boolean"},
        "token": {"type": "string", "description": "Ignored: remote URLs are not supported"},
    },
}

PLAIN_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "description": "Directory or file relative to the template"},
        "targetPath": {"type": "string", "description": "Target path in the workspace"},
        "token": {"type": "string"},
    },
}

PLAIN_FILE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url", "targetPath"],
    "properties": {
        "url": {"type": "string", "description": "File relative to the template"},
        "targetPath": {"type": "string", "description": "File path in the workspace"},
        "token": {"type": "string"},
    },
}

_NO_OUTPUT: dict[str, Any] = {"type": "object", "properties": {}}


def _extension(value: Any) -> str | None:
    if value is True:
        return ".njk"
    if not value:
        return None
    text = str(value)
    return text if text.startswith(".") else "." + text


def _output_dir(ctx: ActionContext) -> Path:
    target = ctx.input.get("targetPath") or "./"
    return safe_path(ctx.workspace, target, what="targetPath")


def _rendered_path(
    ctx: ActionContext, relative: str, values: dict[str, Any], options: dict[str, Any]
) -> str:
    rendered = render_string(relative, values, location=f"path {relative}", **options)
    if "\\" in rendered:
        raise InvalidInput(
            f"file name {relative!r} renders to a path with a backslash; use '/' between "
            "directories (backslashes are refused so the repository is safe on Windows)"
        )
    return rendered


def _skipped(path: str) -> bool:
    """Backstage ``containsSkippedContent``: an empty segment means "do not create this"."""
    return path == "" or path.startswith("/") or "//" in path


def fetch_template(ctx: ActionContext) -> None:
    """``fetch:template``: render a skeleton directory into the workspace."""
    url = str(ctx.input["url"])
    values = dict(ctx.input.get("values") or {})
    extension = _extension(ctx.input.get("templateFileExtension"))
    without_render = ctx.input.get("copyWithoutRender")
    without_templating = ctx.input.get("copyWithoutTemplating")
    if without_render and without_templating:
        raise InvalidInput("copyWithoutRender and copyWithoutTemplating can not be used together")
    if extension and (without_render or without_templating):
        raise InvalidInput(
            "templateFileExtension cannot be combined with copyWithoutRender or "
            "copyWithoutTemplating; keep one of them"
        )
    source = source_path(
        url, template_dir=ctx.template_dir, workspace=ctx.workspace, what="fetch:template url"
    )
    if not source.is_dir():
        raise InvalidInput(f"fetch:template url {url!r} must be a directory (the skeleton)")
    output = _output_dir(ctx)
    options: dict[str, Any] = {
        "cookiecutter_compat": bool(ctx.input.get("cookiecutterCompat")),
        "trim_blocks": bool(ctx.input.get("trimBlocks")),
        "lstrip_blocks": bool(ctx.input.get("lstripBlocks")),
    }
    plain = glob_entries(source, without_render or without_templating or [])
    ctx.log(f"Processing {url} into {output.relative_to(ctx.workspace.resolve()) or '.'}")
    # listed before anything is written: the target may lie inside the source
    for entry in list(walk_tree(source)):
        _template_entry(ctx, entry, output, values, options, extension, plain, without_render)


def _template_entry(
    ctx: ActionContext,
    entry: Entry,
    output: Path,
    values: dict[str, Any],
    options: dict[str, Any],
    extension: str | None,
    plain: set[str],
    without_render: Any,
) -> None:
    relative = entry.relative
    if extension:
        render_contents = not entry.is_dir and relative.endswith(extension)
        if render_contents:
            relative = relative[: -len(extension)]
        local = _rendered_path(ctx, relative, values, options)
    else:
        render_contents = relative not in plain
        if without_render and not render_contents:
            local = relative
        else:
            local = _rendered_path(ctx, relative, values, options)
    if _skipped(local):
        ctx.log(f"Skipping {entry.relative}: its rendered name has an empty segment")
        return
    target = safe_path(output, local, what=f"file name {entry.relative!r} (rendered {local!r})")
    safe_path(ctx.workspace, target.relative_to(ctx.workspace.resolve()), what="file name")
    if os.path.lexists(target) and not ctx.input.get("replace") and not entry.is_dir:
        ctx.log(f"Skipping {local}: it already exists (set replace: true to overwrite)")
        return
    if entry.is_dir or entry.is_link or not render_contents or is_binary(entry.path):
        copy_entry(entry, target, workspace=ctx.workspace)
        return
    text = entry.path.read_text(encoding="utf-8")
    rendered = render_string(text, values, location=entry.relative, **options)
    if target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered, encoding="utf-8")
    os.chmod(target, entry.path.stat().st_mode & 0o7777)


def fetch_plain(ctx: ActionContext) -> None:
    """``fetch:plain``: copy a directory (or one file) into ``targetPath`` unchanged."""
    url = str(ctx.input["url"])
    source = source_path(
        url, template_dir=ctx.template_dir, workspace=ctx.workspace, what="fetch:plain url"
    )
    output = _output_dir(ctx)
    if not source.is_dir():
        _copy_file(ctx, source, output / source.name)
        return
    # listed before anything is written: the target may lie inside the source
    for entry in list(walk_tree(source)):
        copy_entry(
            entry, safe_path(output, entry.relative, what="file name"), workspace=ctx.workspace
        )
    ctx.log(f"Copied {url} to {ctx.input.get('targetPath') or './'}")


def _copy_file(ctx: ActionContext, source: Path, target: Path) -> None:
    if source.is_dir():
        raise InvalidInput(f"fetch:plain:file url {ctx.input['url']!r} is a directory, not a file")
    root = ctx.template_dir if ctx.template_dir is not None else ctx.workspace
    base = root if source.is_relative_to(root.resolve()) else ctx.workspace
    relative = source.relative_to(base.resolve()).as_posix()
    entry = Entry(relative, source, False, source.is_symlink())
    copy_entry(entry, target, workspace=ctx.workspace)


def fetch_plain_file(ctx: ActionContext) -> None:
    """``fetch:plain:file``: copy one file to ``targetPath`` (a file path) unchanged."""
    url = str(ctx.input["url"])
    source = source_path(
        url, template_dir=ctx.template_dir, workspace=ctx.workspace, what="fetch:plain:file url"
    )
    target = safe_path(ctx.workspace, ctx.input["targetPath"], what="targetPath")
    _copy_file(ctx, source, target)
    ctx.log(f"Copied {url} to {ctx.input['targetPath']}")


ACTIONS: list[Action] = [
    Action(
        id="fetch:template",
        description="Downloads a skeleton, templates variables into file and directory "
        "names and contents, and places the result in the workspace.",
        handler=fetch_template,
        input_schema=TEMPLATE_INPUT,
        output_schema=_NO_OUTPUT,
        supports_dry_run=True,
        examples=(
            {
                "description": "Render ./skeleton with the service name",
                "example": "steps:\n  - action: fetch:template\n    id: fetch\n    input:\n"
                "      url: ./skeleton\n      values:\n        name: ${{ parameters.name }}\n",
            },
        ),
    ),
    Action(
        id="fetch:plain",
        description="Downloads a directory and places it in the workspace, unchanged.",
        handler=fetch_plain,
        input_schema=PLAIN_INPUT,
        output_schema=_NO_OUTPUT,
        supports_dry_run=True,
    ),
    Action(
        id="fetch:plain:file",
        description="Downloads one file and places it in the workspace, unchanged.",
        handler=fetch_plain_file,
        input_schema=PLAIN_FILE_INPUT,
        output_schema=_NO_OUTPUT,
        supports_dry_run=True,
    ),
]
