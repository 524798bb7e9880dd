"""What a reconciler tick works with, and the two ways a tick ends a step early.

Private to :mod:`goldenpath.deploy`: :class:`Ctx` (store, driver, settings, clock, build jobs,
the reconciler's settle/note_route callbacks), :func:`move` (a state change that notices a
concurrent writer), :func:`fail` (end a deployment and settle its target), the ``Failed`` /
``Moved`` signals, and :func:`parse_time` for times kept in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goldenpath.deploy import store
from goldenpath.deploy._builds import BuildJobs
from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.records import Deployment
from goldenpath.drivers.base import RuntimeDriver
from goldenpath.errors import Conflict
from goldenpath.settings import Settings
from goldenpath.workloads.model import Workload

__all__ = ["ACTOR", "Ctx", "Failed", "Moved", "fail", "move", "parse_time", "plain_note"]

#: the actor recorded on transitions the reconciler makes
ACTOR = "reconciler"


@dataclass
class Ctx:
    """What a tick needs: the store, the driver, settings, the clock, the build jobs, the
    workload cache, the :class:`Provisioner` (policy, resources, secrets),
    ``settle(service, environment)`` (the reconciler's traffic/orphan
    reconciliation, run after a deployment ends) and ``note_route(environment, service, old,
    new)`` (weights changed: versions that lost traffic drain before they stop)."""

    engine: Any
    driver: RuntimeDriver
    settings: Settings
    clock: Callable[[], datetime]
    builds: BuildJobs
    settle: Callable[[str, str], None]
    note_route: Callable[[str, str, Mapping[str, int], Mapping[str, int]], None]
    provisioner: Provisioner = field(default_factory=Provisioner)
    workloads: dict[int, Workload] = field(default_factory=dict)

    def workload(self, d: Deployment) -> Workload:
        """The deployment's stored workload as a :class:`Workload` (cached: records are
        immutable)."""
        cached = self.workloads.get(d.id)
        if cached is None:
            cached = self.workloads[d.id] = Workload.from_dict(d.workload)
        return cached

    def process_env(self, d: Deployment) -> dict[str, str]:
        """The environment of the deployment's processes: secrets, resource outputs, the
        spec's env (:meth:`Provisioner.process_env`; provisions resources idempotently)."""
        return self.provisioner.process_env(
            d.id, self.workload(d), d.environment, actor=d.triggered_by
        )


class Failed(Exception):
    """A step failed: ``reason`` for people; ``analysis`` when a canary analysis failed
    (ends as ``aborted``, or pauses with ``rollback: manual``)."""

    def __init__(self, reason: str, *, analysis: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.analysis = analysis


class Moved(Exception):
    """Someone else (abort, promote, another server) changed the record meanwhile."""


def plain_note(d: Deployment) -> str:
    """``"; first deployment: …"`` when a canary/blue-green request runs as a plain rolling
    update because nothing stable exists to compare with, else ``""``."""
    if d.strategy == "rolling" or d.previous_id is not None or not d.steps:
        return ""
    if "rollingUpdate" not in d.steps[0]:
        return ""
    return f"; first deployment: no stable version to compare a {d.strategy} rollout with"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time kept in progress, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def move(ctx: Ctx, d: Deployment, to: str, reason: str, **kw: Any) -> Deployment:
    try:
        return store.transition(
            ctx.engine, d.id, to, actor=ACTOR, reason=reason, now=ctx.clock(), **kw
        )
    except Conflict as e:
        current = store.get_deployment(ctx.engine, d.id)
        if current.state != d.state:
            raise Moved() from e
        raise


def fail(
    ctx: Ctx,
    d: Deployment,
    reason: str,
    *,
    to: str = "failed",
    progress: Mapping[str, Any] | None = None,
) -> Deployment:
    """End ``d`` as ``to`` (``failed``/``aborted``) with ``reason`` and settle its target
    (traffic back to the stable version, the new version stopped). Returns the record."""
    stable = f"; d{d.previous_id} still serves" if d.previous_id else ""
    done = move(ctx, d, to, f"{reason}{stable}", progress=progress)
    ctx.builds.forget(d.id)
    ctx.settle(d.service, d.environment)
    return done
