"""``DeployService``: the deploy use cases the API, the CLI (through the API) and the portal call.

One object per process, built once with the store's engine, the settings and the runtime
driver. Use cases validate everything before they write (a refused request leaves no record
and starts nothing), record the deployment, and return at once; the reconciler
(:mod:`goldenpath.deploy.reconciler`) drives it — in its own thread after :meth:`start`, or
when tests call :meth:`reconcile_once` / :meth:`wait`.

Issue 4 ("Deploy, rollouts, rollback"): environments (``dev``, ``staging``, ``production``
by default, ephemeral ones with a TTL, clone, delete), ``platform deploy [--env] [--ref]
[--canary 10%]``, ``promote``, ``abort``, ``rollback [--to ID]`` (reuses the old release from
local disk: works with the git host down), ``history``, ``status``, ``logs``. Vocabulary:
Argo Rollouts (steps ``setWeight`` / ``pause`` / ``analysis``, promote, abort).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from goldenpath.deploy import _workload as wl
from goldenpath.deploy import gitops, rendering, store
from goldenpath.deploy._request import DeployRequest, choose_strategy, read_workload
from goldenpath.deploy._reruns import Reruns
from goldenpath.deploy._rollback import copy_build
from goldenpath.deploy._status import ServiceStatus, service_status
from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.reconciler import Reconciler, ReconcileReport
from goldenpath.deploy.records import TERMINAL, Deployment, Environment, iso
from goldenpath.deploy.rendering import RenderResult
from goldenpath.deploy.strategies import describe_step, first_plan, plan_steps
from goldenpath.drivers.base import LogFollower, LogLine, RuntimeDriver
from goldenpath.errors import Conflict, InvalidInput, NotFound, PlatformError
from goldenpath.settings import Settings
from goldenpath.workloads.model import Workload

__all__ = [
    "DRIVERS",
    "MAX_TTL_SECONDS",
    "DeployRequest",
    "DeployService",
    "ReconcileReport",
    "ServiceStatus",
]

_log = logging.getLogger(__name__)

#: environment drivers: ``local`` runs on this machine; ``kubernetes`` commits rendered
#: manifests to a GitOps repository (docs/kubernetes.md)
DRIVERS = ("local", "kubernetes")
#: the longest ephemeral environment's TTL: 3650 days (beyond, its expiry overflowed a date)
MAX_TTL_SECONDS = 3650 * 86400.0
_WAIT_POLL = 0.2


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeployService(Reruns):
    """Environments and deployments (see the module docstring).

    Args:
        engine: the store's SQLAlchemy engine, migrated (revision ``0005_deploy`` or later).
        settings: the whole settings tree (``deploy``, ``runtime``, ``home``).
        driver: the runtime driver (``LocalDriver(settings)``).
        clock: returns aware UTC now (tests inject one).

    Creating it makes sure the default environments (``settings.deploy.environments``) exist.
    """

    def __init__(
        self,
        *,
        engine: Any,
        settings: Settings,
        driver: RuntimeDriver,
        clock: Callable[[], datetime] = _utcnow,
        provisioner: Provisioner | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.driver = driver
        self.clock = clock
        self.provisioner = provisioner or Provisioner()
        self.reconciler = Reconciler(
            engine=engine,
            settings=settings,
            driver=driver,
            clock=clock,
            provisioner=self.provisioner,
        )
        store.ensure_environments(engine, list(settings.deploy.environments), driver=driver.name)

    # -- environments ----------------------------------------------------------------------

    def list_environments(self) -> list[Environment]:
        """Every environment, by name."""
        return store.list_environments(self.engine)

    def create_environment(
        self,
        name: str,
        *,
        source: str | None = None,
        ttl: float | None = None,
        actor: str,
        driver: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Environment:
        """Create environment ``name`` (``platform env create NAME [--from ENV] [--ttl 24h]
        [--driver kubernetes] [--set key=value]``).

        ``source`` gives the parent whose driver and settings are copied; ``driver``
        (``local`` or ``kubernetes``) and ``settings`` override them (settings merge key by
        key; see docs/kubernetes.md for a kubernetes environment's). ``ttl`` (seconds, > 0)
        makes it ephemeral: the reconciler tears it down after ``now + ttl`` (at most
        :data:`MAX_TTL_SECONDS`).

        Raises:
            InvalidInput: bad name, ttl or driver. NotFound: ``source`` does not exist.
            Conflict: ``name`` exists.
        """
        if ttl is not None and not 0 < ttl <= MAX_TTL_SECONDS:
            raise InvalidInput(
                f"ttl must be a positive number of seconds up to {MAX_TTL_SECONDS:.0f} "
                f"({MAX_TTL_SECONDS / 86400:.0f} days), got {ttl!r} (e.g. --ttl 24h)",
                details={"field": "ttl"},
            )
        if driver is not None and driver not in DRIVERS:
            raise InvalidInput(
                f"driver {driver!r} is unknown; use one of {', '.join(DRIVERS)}",
                details={"field": "driver"},
            )
        parent = store.get_environment(self.engine, source) if source else None
        return store.create_environment(
            self.engine,
            name=name,
            driver=driver or (parent.driver if parent else self.driver.name),
            settings={**(dict(parent.settings) if parent else {}), **dict(settings or {})},
            parent=source,
            ephemeral=ttl is not None,
            expires_at=self.clock() + timedelta(seconds=ttl) if ttl is not None else None,
            created_by=actor,
            now=self.clock(),
        )

    def clone_environment(
        self, source: str, name: str, *, ttl: float | None = None, actor: str
    ) -> Environment:
        """Create ``name`` from ``source`` and deploy there every service's stable version of
        ``source`` (same release, no rebuild; rolling). Returns the new environment; the
        deployments proceed in the reconciler (``history(environment=name)``).

        Raises: as :meth:`create_environment`.
        """
        env = self.create_environment(name, source=source, ttl=ttl, actor=actor)
        for target in store.list_targets(self.engine, environment=source):
            if target.stable_id is None:
                continue
            stable = store.get_deployment(self.engine, target.stable_id)
            if stable.release_id is None:
                continue
            workload = Workload.from_dict(stable.workload)
            d = store.create_deployment(
                self.engine,
                service=stable.service,
                environment=name,
                kind="deploy",
                strategy="rolling",
                repo=stable.repo,
                ref=stable.sha or stable.ref,
                workload=stable.workload,
                steps=plan_steps(workload, strategy="rolling"),
                triggered_by=actor,
                now=self.clock(),
            )
            copy_build(self.engine, d, stable)
            store.update_progress(
                self.engine,
                d.id,
                message=f"cloned from {source}: {stable.version} ({stable.release_id})",
            )
        return env

    def delete_environment(self, name: str, *, actor: str) -> Environment:
        """Delete ``name``: abort what is in flight there, stop every replica and route of
        it, forget its targets; deployment records stay (history). Returns the environment
        as it was (status ``deleting``).

        Raises:
            NotFound: no such environment.
            Conflict: a default environment (``settings.deploy.environments``) — they are
                recreated at every start; remove it from the settings first.
        """
        env = store.get_environment(self.engine, name)
        if name in self.settings.deploy.environments:
            raise Conflict(
                f"environment {name!r} is a default environment (settings.deploy.environments) "
                "and would be recreated at the next start; remove it from the settings first",
                details={"name": name},
            )
        self.reconciler.teardown_environment(name, actor=actor, reason=f"deleted by {actor}")
        return dataclasses.replace(env, status="deleting")

    # -- deploy ----------------------------------------------------------------------------

    def deploy(self, request: DeployRequest, *, actor: str) -> Deployment:
        """Record a deployment of the service described by the request's spec and return it
        (state ``pending``) at once; the reconciler builds and rolls it out.

        The spec is read at the resolved commit (``git show <sha>:<spec_path>``) and checked
        before anything is written. A first deployment (nothing stable to compare with) runs
        as a plain rolling update whatever the strategy; its message says so.

        Raises:
            InvalidInput: no repo and no spec, invalid spec (``WorkloadError``: file, line,
                field), nothing to build or run, a ``${resources…}`` placeholder, bad
                strategy or canary weight.
            NotFound: environment, repository, ref or spec file unknown.
            Unavailable: the git host is unreachable.
            Conflict: the environment is being deleted, or another deployment of the
                service is in flight there (the message names it).
        """
        env = store.get_environment(self.engine, request.environment)
        if env.status != "active":
            raise Conflict(f"environment {env.name!r} is being deleted; deploy to another one")
        workload, revision = read_workload(request, driver=self.driver, home=self.settings.home)
        on_kubernetes = env.driver == "kubernetes"
        if not on_kubernetes:
            wl.check_deployable(workload, repo=request.repo)
            self.provisioner.check_placeholders(workload)
        warnings = self.provisioner.check(
            workload, env.name, production=env.production, actor=actor
        )
        rendered = None
        if on_kubernetes:  # rendered and checked before anything is recorded
            names = self.provisioner.secret_names(workload.name, env.name)
            rendered = rendering.render(workload, env, secret_names=names)
            gitops.check_render(rendered)
        strategy = choose_strategy(request, workload)
        target = store.get_target(self.engine, workload.name, env.name)
        first = target is None or target.stable_id is None
        if first:  # nothing serves yet: no traffic to protect, every replica starts at once
            steps: tuple[dict[str, Any], ...] = first_plan(workload)
        else:
            steps = plan_steps(
                workload,
                strategy=strategy,
                canary_weight=request.canary if strategy == "canary" else None,
            )
        d = store.create_deployment(
            self.engine,
            service=workload.name,
            environment=env.name,
            kind="deploy",
            strategy=strategy,
            repo=request.repo,
            ref=request.ref,
            workload=workload.to_dict(),
            steps=steps,
            triggered_by=actor,
            now=self.clock(),
        )
        if revision is not None and workload.build.kind != "package":
            d = store.set_revision(
                self.engine,
                d.id,
                sha=revision.sha,
                committed_at=revision.committed_at,
                commit_author=revision.author,
            )
        notes = [f"policy warning: {w}" for w in warnings]
        if first and strategy != "rolling":
            notes.append(
                f"first deployment of {workload.name} in {env.name}: no stable version "
                f"to compare a {strategy} rollout with, so it rolls out plainly"
            )
        if notes:
            d = store.update_progress(self.engine, d.id, message="; ".join(notes))
        if rendered is not None:
            repo = gitops.repository(env, self.settings.home)
            return gitops.commit_render(
                self.engine,
                d,
                rendered,
                repo,
                actor=actor,
                now=self.clock(),
                kubeconfig=gitops.kubeconfig_of(env),
            )
        self.reconciler.wake()
        return d

    def read_spec(self, request: DeployRequest) -> Workload:
        """The workload ``request`` names (its spec read from the repository or path), as
        :meth:`deploy` reads it; records nothing (e.g. to check who owns the service first).

        Raises:
            InvalidInput / NotFound / Unavailable: the spec cannot be read or is invalid.
        """
        return read_workload(request, driver=self.driver, home=self.settings.home)[0]

    def render(self, request: DeployRequest) -> RenderResult:
        """The Kubernetes objects a deploy of ``request`` to its environment would apply,
        validated (``platform render --env production``); records nothing.

        Raises:
            InvalidInput / NotFound: as :meth:`deploy` reading the spec, or a workload that
                cannot be rendered.
        """
        env = store.get_environment(self.engine, request.environment)
        workload, _revision = read_workload(request, driver=self.driver, home=self.settings.home)
        names = self.provisioner.secret_names(workload.name, env.name)
        return rendering.render(workload, env, secret_names=names)

    def diff(self, request: DeployRequest) -> list[dict[str, str]]:
        """What a deploy of ``request`` would change in its kubernetes environment's GitOps
        repository, object by object (``platform diff --env production``): ``[{kind, name,
        change: added|removed|changed, diff}]``; empty when nothing would change.

        Raises:
            InvalidInput: the environment's driver is not ``kubernetes``, or the render has
                schema errors (as :meth:`deploy`).
        """
        env = store.get_environment(self.engine, request.environment)
        if env.driver != "kubernetes":
            raise InvalidInput(
                f"environment {env.name!r} runs on this machine (driver {env.driver}); diff "
                "compares with a kubernetes environment's GitOps repository — see what a "
                f"deploy there would render with platform render --env {env.name}",
                details={"field": "environment"},
            )
        rendered = self.render(request)
        gitops.check_render(rendered)
        repo = gitops.repository(env, self.settings.home)
        return repo.diff(env.name, rendered.service, rendered.objects)

    # -- promote, abort, rollback ------------------------------------------------------------

    def _in_flight(self, service: str, environment: str, verb: str) -> Deployment:
        store.get_environment(self.engine, environment)
        target = store.get_target(self.engine, service, environment)
        if target is None or target.active_id is None:
            raise Conflict(
                f"nothing to {verb}: no deployment of {service} is in flight in {environment}",
                details={"service": service, "environment": environment},
            )
        return store.get_deployment(self.engine, target.active_id)

    def promote(
        self, service: str, environment: str, *, actor: str, full: bool = False
    ) -> Deployment:
        """Resume a paused rollout (``platform deploy promote``): the current ``pause`` ends,
        an inconclusive or (with ``rollback: manual``) failed analysis counts as passed;
        ``full`` skips every remaining step. The progress deadline starts again.

        Raises:
            Conflict: nothing in flight, or the rollout is not paused (the message says
                where it is).
        """
        d = self._in_flight(service, environment, "promote")
        if d.state != "paused":
            where = (
                f"step {d.step_index + 1}/{len(d.steps)} ({describe_step(d.steps[d.step_index])})"
                if d.step_index < len(d.steps)
                else "the final scale-up"
            )
            raise Conflict(
                f"{d.version} of {service} is {d.state} at {where}; promote resumes a paused "
                "rollout — wait for its pause, or abort with "
                f"platform deploy abort --env {environment}",
                details={"id": d.id, "state": d.state},
            )
        now = self.clock()
        progress = dict(d.progress)
        progress.pop("hold", None)
        progress["promoted"] = {"step": d.step_index, "full": full, "by": actor, "at": iso(now)}
        deadline = Workload.from_dict(d.workload).deployment.progress_deadline
        progress["deadlineAt"] = iso(now + timedelta(seconds=deadline))
        suffix = ": skipping the remaining steps" if full else ""
        promoted = store.transition(
            self.engine,
            d.id,
            "progressing",
            actor=actor,
            reason=f"promoted by {actor}{suffix}",
            now=now,
            progress=progress,
        )
        self.reconciler.wake()
        return promoted

    def abort(self, service: str, environment: str, *, actor: str) -> Deployment:
        """Abort the rollout in flight (``platform deploy abort``): all traffic returns to
        the stable version at once and the new version stops (after draining).

        Raises:
            Conflict: nothing in flight (or it ended meanwhile).
        """
        d = self._in_flight(service, environment, "abort")
        back = f"; traffic back to d{d.previous_id}" if d.previous_id else ""
        d = store.transition(
            self.engine,
            d.id,
            "aborted",
            actor=actor,
            reason=f"aborted by {actor}{back}",
            now=self.clock(),
        )
        try:
            self.reconciler.settle(service, environment)
        except PlatformError as e:  # the next reconciler pass settles again
            _log.warning("settling %s/%s after abort: %s", service, environment, e.message)
        return store.get_deployment(self.engine, d.id)

    # -- reads -----------------------------------------------------------------------------

    def get_deployment(self, deployment_id: int) -> Deployment:
        """Deployment ``deployment_id``. Raises NotFound."""
        return store.get_deployment(self.engine, deployment_id)

    def history(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Deployment]:
        """Deployments newest first (``platform deploy history [SERVICE]``); page with
        ``before_id`` = the last id seen."""
        return store.list_deployments(
            self.engine, service=service, environment=environment, limit=limit, before_id=before_id
        )

    def wait(
        self,
        deployment_id: int,
        *,
        timeout: float,
        states: Collection[str] = TERMINAL | {"paused"},
    ) -> Deployment:
        """Poll until the deployment is in one of ``states`` or ``timeout`` seconds passed;
        returns it as it is then (check ``state``). When the reconciler loop is not running
        (tests, ``reconcile_interval: 0``) this drives it itself."""
        deadline = time.monotonic() + timeout
        while True:
            d = store.get_deployment(self.engine, deployment_id)
            if d.state in states or time.monotonic() >= deadline:
                return d
            if not self.reconciler.running:
                self.reconciler.reconcile_once()
            time.sleep(min(_WAIT_POLL, max(0.0, deadline - time.monotonic())))

    def status(self, service: str, environment: str | None = None) -> list[ServiceStatus]:
        """The service per environment it was deployed to (or in ``environment`` only).

        Raises:
            NotFound: unknown environment, or the service was never deployed there.
        """
        if environment is not None:
            store.get_environment(self.engine, environment)
        targets = store.list_targets(self.engine, service=service, environment=environment)
        if not targets:
            where = f" to {environment}" if environment else ""
            raise NotFound(
                f"{service} was never deployed{where}; deploy it with platform deploy "
                f"--env {environment or 'dev'} in its repository",
                details={"service": service, "environment": environment},
            )
        return [service_status(self.engine, self.driver, t) for t in targets]

    def overview(self, environment: str | None = None) -> list[ServiceStatus]:
        """Every deployed service per environment (or in ``environment`` only), ordered by
        environment then service: what ``platform status`` shows with no service.

        Raises:
            NotFound: unknown environment.
        """
        if environment is not None:
            store.get_environment(self.engine, environment)
        targets = store.list_targets(self.engine, environment=environment)
        return [service_status(self.engine, self.driver, t) for t in targets]

    def logs(
        self, service: str, environment: str, *, since: datetime | None = None
    ) -> Iterator[LogLine]:
        """Lines every replica of every version printed, in time order (to follow them,
        :meth:`tail_logs`). Raises NotFound (environment)."""
        store.get_environment(self.engine, environment)
        return self.driver.logs(environment, service, since=since)

    def tail_logs(self, service: str, environment: str) -> LogFollower:
        """A non-blocking follower of the service's logs from now on (``poll()``/``close()``,
        see :class:`~goldenpath.drivers.base.LogFollower`). Raises NotFound (environment)."""
        store.get_environment(self.engine, environment)
        return self.driver.tail_logs(environment, service)

    # -- the reconciler ----------------------------------------------------------------------

    def reconcile_once(self) -> ReconcileReport:
        """One reconciler pass (see :class:`~goldenpath.deploy.reconciler.Reconciler`)."""
        return self.reconciler.reconcile_once()

    def start(self) -> None:
        """Start the reconciler thread (every ``settings.deploy.reconcile_interval`` s)."""
        self.reconciler.start()

    def stop(self) -> None:
        """Stop the reconciler thread; deployed services keep running."""
        self.reconciler.stop()
