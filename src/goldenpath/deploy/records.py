"""Deployment records as data: deployments, their transitions, environments and targets.

Pure dataclasses, no IO. A :class:`Deployment` is an immutable record (issue 4): what was
asked for (service, environment, repo, ref, strategy, workload, rollout steps, who triggered
it) is fixed when it is created; the resolved commit (``sha``, ``committed_at``,
``commit_author``) and the driver's ``release_id`` are set once; only the state, the
progress fields and ``message`` move, and every state change is kept as a
:class:`Transition` (these records feed the DORA metrics). The state machine itself lives in
:mod:`goldenpath.deploy.states`; the SQL in :mod:`goldenpath.deploy.store`.

Vocabulary follows Argo Rollouts (``setWeight``, ``pause``, ``analysis``; phases
``Progressing``/``Paused``/``Healthy``/``Degraded`` map to our lower-case states) and Score
(service, environment, workload). Wire shapes (:meth:`Deployment.to_dict` …) are camelCase
JSON with ISO-8601 UTC times (``2026-01-02T03:04:05Z``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from goldenpath.errors import InvalidInput

__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "KINDS",
    "STATES",
    "STRATEGIES",
    "TERMINAL",
    "Deployment",
    "DeploymentKind",
    "DeploymentState",
    "Environment",
    "EnvironmentStatus",
    "Strategy",
    "Target",
    "Transition",
    "iso",
    "validate_environment_name",
]

DeploymentState = Literal[
    "pending", "building", "progressing", "paused", "succeeded", "failed", "aborted"
]
DeploymentKind = Literal["deploy", "rollback", "redeploy"]
Strategy = Literal["rolling", "canary", "blue-green"]
EnvironmentStatus = Literal["active", "deleting"]

#: every deployment state, in lifecycle order
STATES: tuple[str, ...] = (
    "pending",
    "building",
    "progressing",
    "paused",
    "succeeded",
    "failed",
    "aborted",
)
#: states a deployment never leaves
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "aborted"})
KINDS: tuple[str, ...] = ("deploy", "rollback", "redeploy")
STRATEGIES: tuple[str, ...] = ("rolling", "canary", "blue-green")
#: environments that exist on every installation (issue 4)
DEFAULT_ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "production")

_NAME_MAX = 40
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO-8601 with a ``Z`` suffix for UTC, or None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def validate_environment_name(name: str) -> str:
    """Return ``name`` when it is a DNS label of 1-40 characters (RFC 1123: lower-case
    letters, digits and ``-``, starting and ending with a letter or digit).

    Raises:
        InvalidInput: naming the rule and a suggested fix (e.g. ``pr-123``).
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput("environment name is empty; use a DNS label such as 'pr-123'")
    if len(name) > _NAME_MAX or not _DNS_LABEL.match(name):
        suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:_NAME_MAX].strip("-")
        fix = f"; e.g. {suggestion!r}" if suggestion and _DNS_LABEL.match(suggestion) else ""
        raise InvalidInput(
            f"environment name {name!r} is not a DNS label: use 1-{_NAME_MAX} lower-case "
            f"letters, digits and '-', starting and ending with a letter or digit{fix}",
            details={"field": "name", "value": name},
        )
    return name


@dataclass(frozen=True)
class Transition:
    """One state change of a deployment: ``from_state`` is None for the first (→ pending);
    ``at`` aware UTC; ``actor`` who or what caused it (a user, a token, ``reconciler``);
    ``reason`` one human sentence."""

    from_state: str | None
    to_state: str
    at: datetime
    actor: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{from, to, at, actor, reason}``."""
        return {
            "from": self.from_state,
            "to": self.to_state,
            "at": iso(self.at),
            "actor": self.actor,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Deployment:
    """One deployment of ``service`` to ``environment`` (an immutable record; only the
    state/progress fields move, see the module docstring).

    ``workload`` is ``Workload.for_environment(env).to_dict()`` fixed at creation;
    ``steps`` the rollout plan (Argo Rollouts steps as JSON); ``step_index`` the next step
    to run; ``progress`` reconciler bookkeeping; ``previous_id`` the stable deployment this
    one replaces (None for the first); ``rollback_of`` for ``kind == "rollback"`` the
    deployment whose release it brings back (for ``redeploy``, the one rolled out again with
    a fresh process environment, e.g. after a secret rotation). Times are aware UTC;
    ``transitions`` oldest first.
    """

    id: int
    service: str
    environment: str
    kind: DeploymentKind
    strategy: Strategy
    repo: str | None
    ref: str | None
    sha: str | None
    committed_at: datetime | None
    commit_author: str | None
    release_id: str | None
    workload: Mapping[str, Any]
    steps: tuple[Mapping[str, Any], ...]
    step_index: int
    progress: Mapping[str, Any]
    state: DeploymentState
    message: str
    triggered_by: str
    rollback_of: int | None
    previous_id: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    transitions: tuple[Transition, ...]

    @property
    def version(self) -> str:
        """The driver's version label of this deployment: ``d<id>``."""
        return f"d{self.id}"

    @property
    def terminal(self) -> bool:
        """True once the deployment reached succeeded, failed or aborted."""
        return self.state in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON for the API: ``{id, service, environment, kind, strategy, repo,
        ref, sha, committedAt, commitAuthor, releaseId, version, steps, stepIndex, progress,
        state, message, triggeredBy, rollbackOf, previousId, createdAt, updatedAt,
        finishedAt, transitions: [{from, to, at, actor, reason}], workload}``."""
        return {
            "id": self.id,
            "service": self.service,
            "environment": self.environment,
            "kind": self.kind,
            "strategy": self.strategy,
            "repo": self.repo,
            "ref": self.ref,
            "sha": self.sha,
            "committedAt": iso(self.committed_at),
            "commitAuthor": self.commit_author,
            "releaseId": self.release_id,
            "version": self.version,
            "steps": [dict(step) for step in self.steps],
            "stepIndex": self.step_index,
            "progress": dict(self.progress),
            "state": self.state,
            "message": self.message,
            "triggeredBy": self.triggered_by,
            "rollbackOf": self.rollback_of,
            "previousId": self.previous_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "finishedAt": iso(self.finished_at),
            "transitions": [t.to_dict() for t in self.transitions],
            "workload": dict(self.workload),
        }


@dataclass(frozen=True)
class Environment:
    """A named place services run in (``dev``, ``staging``, ``production``, ``pr-123`` …).

    ``driver`` names the runtime driver (``"local"``) and ``settings`` its own settings;
    ``parent`` the environment it was created ``--from`` or cloned from; an ``ephemeral``
    one has ``expires_at`` (its TTL), after which the reconciler tears it down. ``status``
    is ``deleting`` while its teardown runs.
    """

    name: str
    driver: str
    settings: Mapping[str, Any]
    parent: str | None
    ephemeral: bool
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    status: EnvironmentStatus

    @property
    def production(self) -> bool:
        """Production or not (policies are stricter there): ``settings.production`` when set,
        else whether the name is ``production``."""
        return bool(self.settings.get("production", self.name == "production"))

    def to_dict(self) -> dict[str, Any]:
        """``{name, driver, settings, parent, ephemeral, expiresAt, createdAt, createdBy,
        status}``."""
        return {
            "name": self.name,
            "driver": self.driver,
            "settings": dict(self.settings),
            "parent": self.parent,
            "ephemeral": self.ephemeral,
            "expiresAt": iso(self.expires_at),
            "createdAt": iso(self.created_at),
            "createdBy": self.created_by,
            "status": self.status,
        }


@dataclass(frozen=True)
class Target:
    """Desired state of one service in one environment: ``stable_id`` the deployment
    serving (the last succeeded), ``active_id`` the non-terminal deployment in flight (at
    most one), ``weights`` version → percent as last applied by the engine."""

    service: str
    environment: str
    stable_id: int | None
    active_id: int | None
    weights: Mapping[str, int]
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """``{service, environment, stableId, activeId, weights, updatedAt}``."""
        return {
            "service": self.service,
            "environment": self.environment,
            "stableId": self.stable_id,
            "activeId": self.active_id,
            "weights": dict(self.weights),
            "updatedAt": iso(self.updated_at),
        }
