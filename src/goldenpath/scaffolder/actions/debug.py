"""Scaffolder action ``debug:log``: write a message (and optionally the workspace) to the log.

Backstage docs: "Builtin actions" (``debug:log``: ``message``, ``listWorkspace``: ``true`` |
``with-filenames`` | ``with-contents``). Everything goes through
:meth:`ActionContext.log`, so secret values are masked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from goldenpath.scaffolder.actions.base import Action, ActionContext

__all__ = ["ACTIONS"]

#: Largest file shown by ``listWorkspace: with-contents``, in bytes.
MAX_SHOWN_BYTES = 64 * 1024

DEBUG_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "title": "Message to output."},
        "listWorkspace": {
            "title": "List all files in the workspace, if true.",
            "oneOf": [
                {"type": "boolean"},
                {"type": "string", "enum": ["with-filenames", "with-contents"]},
            ],
        },
        "extra": {"description": "Extra info to output (any JSON value)"},
    },
}


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        found.extend(Path(dirpath, name) for name in sorted(files))
    return found


def debug_log(ctx: ActionContext) -> None:
    """``debug:log``: log ``message``, ``extra`` and, with ``listWorkspace``, the files."""
    if ctx.input.get("message") is not None:
        ctx.log(str(ctx.input["message"]))
    if "extra" in ctx.input:
        ctx.log(f"extra: {ctx.input['extra']!r}")
    listing = ctx.input.get("listWorkspace")
    if not listing:
        return
    root = ctx.workspace
    for path in _files(root):
        relative = path.relative_to(root).as_posix()
        if listing != "with-contents" or path.is_symlink():
            ctx.log(f"Workspace: {relative}")
            continue
        data = path.read_bytes()[:MAX_SHOWN_BYTES]
        text = data.decode("utf-8", errors="replace")
        ctx.log(f"Workspace: {relative}\n{text}")


ACTIONS: list[Action] = [
    Action(
        id="debug:log",
        description="Writes a message into the log and/or lists all files in the workspace.",
        handler=debug_log,
        input_schema=DEBUG_INPUT,
        output_schema={"type": "object", "properties": {}},
        supports_dry_run=True,
        examples=(
            {
                "description": "Write a debug message",
                "example": "steps:\n  - action: debug:log\n    id: write-debug-line\n"
                "    input:\n      message: 'Hello, ${{ parameters.name }}!'\n",
            },
        ),
    ),
]
