"""The action contract: what a scaffolder step calls, what it may touch, what it returns.

Backstage docs: "Builtin actions" and "Writing Custom Actions" (``createTemplateAction``):
an action has an ``id``, a description, JSON Schemas for its ``input`` and ``output``,
``supportsDryRun``, and a handler that receives a context with the rendered input, the
task's workspace, a logger and ``output(name, value)``.

Everything an action writes goes through :meth:`ActionContext.resolve`, which confines paths
to the workspace (``..``, absolute paths and symlinks that leave it are refused). Secrets
never reach the log: :meth:`ActionContext.log` masks every secret value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldenpath.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from goldenpath.catalog.service import CatalogService
    from goldenpath.settings import Settings

__all__ = [
    "Action",
    "ActionContext",
    "ActionRegistry",
    "ActionServices",
    "Handler",
    "confine",
    "mask_secrets",
]

MASK = "***"


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (longest first, empty ones ignored) replaced by ``***``."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def confine(root: Path, relative: str | os.PathLike[str], *, what: str = "path") -> Path:
    """``root / relative``, refusing anything that would leave ``root``.

    ``relative`` must be relative; ``..`` segments may not climb out; an existing symlink
    on the way may not point outside. Returns an absolute, normalised path (it may not
    exist yet).

    Raises:
        InvalidInput: absolute path, or the path escapes ``root`` (message names ``what``).
    """
    text = os.fspath(relative)
    if "\x00" in text:
        raise InvalidInput(f"{what} {text!r} contains a NUL byte")
    if os.path.isabs(text) or text.startswith("~"):
        raise InvalidInput(f"{what} {text!r} must be relative to the workspace, not absolute")
    base = root.resolve()
    candidate = Path(os.path.normpath(base / text))
    if not candidate.is_relative_to(base):
        raise InvalidInput(f"{what} {text!r} escapes the workspace; remove the '..' segments")
    # Resolve symlinks of the existing part of the path: a link may not lead outside.
    existing = candidate
    while not os.path.lexists(existing) and existing != base:
        existing = existing.parent
    if not existing.resolve().is_relative_to(base):
        raise InvalidInput(f"{what} {text!r} escapes the workspace through a symbolic link")
    return candidate


@dataclass(slots=True)
class ActionServices:
    """What actions may call besides the file system; any may be ``None`` in unit tests.

    ``githost`` is :class:`goldenpath.scaffolder.githost.GitHost` and ``deploy`` a
    :class:`goldenpath.deploy.service.DeployService` (both typed loosely to keep this module
    free of their imports).
    """

    settings: Settings | None = None
    catalog: CatalogService | None = None
    githost: Any = None
    deploy: Any = None


@dataclass(slots=True)
class ActionContext:
    """One step's view of the task.

    Attributes:
        step_id: the step's ``id``.
        input: the step's rendered ``input`` (validated against the action's input schema).
        workspace: the task's working directory; actions write only below it.
        template_dir: directory of the template's ``template.yaml`` (base of ``./skeleton``
            URLs), or ``None`` for an inline template.
        template_ref: the Template entity ref (``template:default/python-service``) or ``None``.
        secrets: ``secrets.*`` of the task; never logged.
        user: ``{"ref": "user:default/jane", "entity": {...}}`` (``user.*`` in expressions).
        dry_run: the task is a dry run; actions that publish or register must not.
        services: catalog, settings and git host.
        outputs: what the step produced (``steps['id'].output``).
    """

    step_id: str
    input: dict[str, Any]
    workspace: Path
    template_dir: Path | None = None
    template_ref: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    user: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    services: ActionServices = field(default_factory=ActionServices)
    outputs: dict[str, Any] = field(default_factory=dict)
    logger: Callable[[str], None] | None = None

    def log(self, message: str) -> None:
        """Append ``message`` (secrets masked) to the step's log."""
        if self.logger is not None:
            self.logger(mask_secrets(message, self.secrets.values()))

    def output(self, name: str, value: Any) -> None:
        """Set ``steps[step_id].output[name]``."""
        self.outputs[name] = value

    def resolve(self, relative: str | os.PathLike[str] = ".", *, what: str = "path") -> Path:
        """A path inside the workspace (see :func:`confine`)."""
        return confine(self.workspace, relative, what=what)


Handler = Callable[[ActionContext], None]


@dataclass(frozen=True, slots=True)
class Action:
    """A registered action (Backstage ``TemplateAction``).

    ``input_schema``/``output_schema`` are JSON Schemas (draft 7) shown by
    ``GET /api/scaffolder/v2/actions``; the runner validates the rendered input against
    ``input_schema`` before calling ``handler``. ``supports_dry_run`` false → in a dry run
    the step is skipped with a log line, as Backstage does.
    """

    id: str
    description: str
    handler: Handler
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    output_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    supports_dry_run: bool = False
    examples: tuple[Mapping[str, Any], ...] = ()

    def describe(self) -> dict[str, Any]:
        """Backstage's ``GET /v2/actions`` item: ``{id, description, schema:{input, output},
        examples}``."""
        return {
            "id": self.id,
            "description": self.description,
            "schema": {"input": dict(self.input_schema), "output": dict(self.output_schema)},
            "examples": [dict(e) for e in self.examples],
            "supportsDryRun": self.supports_dry_run,
        }


class ActionRegistry:
    """Actions by id. ``goldenpath.scaffolder.actions.default_registry()`` builds the built-ins."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        """Add ``action``. Raises :class:`InvalidInput` when the id is taken."""
        if action.id in self._actions:
            raise InvalidInput(f'action "{action.id}" is already registered')
        self._actions[action.id] = action

    def get(self, action_id: str) -> Action:
        """The action ``action_id``.

        Raises:
            NotFound: unknown id; the message lists the available actions.
        """
        try:
            return self._actions[action_id]
        except KeyError:
            raise NotFound(
                f'action "{action_id}" is not registered; available actions: '
                + ", ".join(self.ids())
            ) from None

    def ids(self) -> list[str]:
        """Registered ids, sorted."""
        return sorted(self._actions)

    def list(self) -> list[Action]:
        """Registered actions, sorted by id."""
        return [self._actions[i] for i in self.ids()]

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._actions
