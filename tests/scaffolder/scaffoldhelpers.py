"""Builders for scaffolder tests: small template trees on disk and a run that records events."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldenpath.scaffolder.actions import ActionRegistry, debug, fetch, fs
from goldenpath.scaffolder.runner import RunResult, StepEvent, run_template
from goldenpath.scaffolder.templates import TemplateSpec


def build_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` (relative path → text or bytes; a path ending in ``/`` is a directory;
    ``"-> target"`` text makes a symbolic link) below ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = root / relative
        if relative.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("-> "):
            os.symlink(content[3:], path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def template_entity(
    steps: list[dict[str, Any]],
    *,
    parameters: Any = None,
    output: dict[str, Any] | None = None,
    name: str = "demo",
) -> dict[str, Any]:
    """A ``scaffolder.backstage.io/v1beta3`` Template entity."""
    spec: dict[str, Any] = {"type": "service", "owner": "team-a", "steps": steps}
    if parameters is not None:
        spec["parameters"] = parameters
    if output is not None:
        spec["output"] = output
    return {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": name, "title": name.title()},
        "spec": spec,
    }


def files_under(root: Path) -> dict[str, str]:
    """Every regular file below ``root`` as relative path → text."""
    return {
        p.relative_to(root).as_posix(): p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def core_registry() -> ActionRegistry:
    """The fetch, fs and debug actions (what these tests exercise)."""
    return ActionRegistry([*fetch.ACTIONS, *fs.ACTIONS, *debug.ACTIONS])


@dataclass
class Run:
    """A finished run: the result, its events, the workspace."""

    result: RunResult
    events: list[StepEvent] = field(default_factory=list)

    @property
    def log(self) -> str:
        """Every event message, one per line."""
        return "\n".join(e.message for e in self.events)


def run(
    tmp_path: Path,
    entity: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    *,
    skeleton: Mapping[str, str | bytes] | None = None,
    **options: Any,
) -> Run:
    """Run ``entity`` with the default actions; the template lives in ``tmp_path/template``
    (``skeleton`` files below it), the workspace is ``tmp_path/workspace``."""
    template_dir = build_tree(tmp_path / "template", skeleton or {})
    spec = TemplateSpec.from_entity(entity, base_dir=template_dir, ref="template:default/demo")
    events: list[StepEvent] = []
    result = run_template(
        spec,
        values or {},
        registry=options.pop("registry", None) or core_registry(),
        workspace=tmp_path / "workspace",
        on_event=events.append,
        **options,
    )
    return Run(result, events)
