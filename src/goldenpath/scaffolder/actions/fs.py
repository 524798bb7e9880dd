"""Scaffolder actions ``fs:rename`` and ``fs:delete`` (workspace files only).

Backstage docs: "Builtin actions" (``fs:rename``: ``files: [{from, to, overwrite}]``;
``fs:delete``: ``files: [glob, …]``). Every path is confined to the workspace; symbolic
links are moved or removed themselves, never followed.
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.actions.base import Action, ActionContext
from goldenpath.scaffolder.workspace import safe_path

__all__ = ["ACTIONS"]

RENAME_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "title": "Files",
            "description": "Files and directories to rename or move",
            "items": {
                "type": "object",
                "required": ["from", "to"],
                "properties": {
                    "from": {"type": "string", "description": "Current path in the workspace"},
                    "to": {"type": "string", "description": "New path in the workspace"},
                    "overwrite": {
                        "type": "boolean",
                        "default": False,
                        "description": "Replace an existing file or directory at 'to'",
                    },
                },
            },
        }
    },
}

DELETE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "title": "Files",
            "description": "Globs of files and directories to delete (relative to the "
            "workspace; ** recursive, hidden files included)",
            "items": {"type": "string"},
        }
    },
}

_NO_OUTPUT: dict[str, Any] = {"type": "object", "properties": {}}


def _remove(path: Any) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def _check_pattern(pattern: str, *, what: str) -> None:
    """Refuse globs that name something outside the workspace, without following links
    (the entries a glob matches are checked one by one)."""
    if "\x00" in pattern or "\\" in pattern:
        raise InvalidInput(f"{what} {pattern!r} contains a NUL byte or a backslash")
    if os.path.isabs(pattern) or pattern.startswith("~"):
        raise InvalidInput(f"{what} {pattern!r} must be relative to the workspace, not absolute")
    if os.path.normpath(pattern).split(os.sep)[0] == "..":
        raise InvalidInput(f"{what} {pattern!r} escapes the workspace; remove the '..' segments")


def fs_rename(ctx: ActionContext) -> None:
    """``fs:rename``: move each ``from`` to ``to`` inside the workspace.

    Raises:
        InvalidInput: a path leaves the workspace, ``from`` does not exist, ``to`` exists
            and ``overwrite`` is not true.
    """
    for index, item in enumerate(ctx.input["files"]):
        source = safe_path(ctx.workspace, item["from"], what=f"files[{index}].from")
        target = safe_path(ctx.workspace, item["to"], what=f"files[{index}].to")
        if not os.path.lexists(source):
            raise InvalidInput(f"files[{index}].from: {item['from']!r} does not exist")
        if source == ctx.workspace.resolve():
            raise InvalidInput(f"files[{index}].from: the workspace itself cannot be renamed")
        if os.path.lexists(target):
            if not item.get("overwrite"):
                raise InvalidInput(
                    f"files[{index}].to: {item['to']!r} already exists; set overwrite: true"
                )
            _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        ctx.log(f"Renamed {item['from']} to {item['to']}")


def fs_delete(ctx: ActionContext) -> None:
    """``fs:delete``: remove every workspace entry matching the globs (none matching is
    fine).

    Raises:
        InvalidInput: a glob that leaves the workspace (absolute, ``..``).
    """
    root = ctx.workspace.resolve()
    for index, pattern in enumerate(ctx.input["files"]):
        _check_pattern(pattern, what=f"files[{index}]")
        hits = glob.glob(pattern, root_dir=root, recursive=True, include_hidden=True)
        # deepest first, so a directory and its children can both match
        for hit in sorted(hits, key=lambda h: h.count("/"), reverse=True):
            # the entry itself may be a link (it is removed, not followed); its parents may not
            parent = safe_path(root, os.path.dirname(hit) or ".", what=f"files[{index}] match")
            path = parent / os.path.basename(hit)
            if path == root or not os.path.lexists(path):
                continue
            _remove(path)
            ctx.log(f"Deleted {hit}")


ACTIONS: list[Action] = [
    Action(
        id="fs:rename",
        description="Renames (moves) files and directories within the workspace.",
        handler=fs_rename,
        input_schema=RENAME_INPUT,
        output_schema=_NO_OUTPUT,
        supports_dry_run=True,
    ),
    Action(
        id="fs:delete",
        description="Deletes files and directories from the workspace.",
        handler=fs_delete,
        input_schema=DELETE_INPUT,
        output_schema=_NO_OUTPUT,
        supports_dry_run=True,
    ),
]
