"""The reconciler: keeps desired state (the store) and actual state (the driver) together.

One pass (:meth:`Reconciler.reconcile_once`), every ``settings.deploy.reconcile_interval``
seconds in a thread (:meth:`Reconciler.start`), or called directly by tests:

1. **In-flight deployments** (oldest first): claim each with the lease
   ``deploy:<service>:<environment>`` (:mod:`goldenpath.store.leases`, holder = this
   process, ttl ``settings.deploy.lease_ttl``; a lease whose holder process is gone on this
   host is taken over at once), then run one tick (:func:`goldenpath.deploy._steps.advance`).
   Two servers never drive one deployment; a server killed mid-step leaves a record the next
   one resumes (steps are idempotent, progress is written before and after side effects).
2. **Settle** every target that no one is rolling out (:meth:`Reconciler.settle`): the stable
   version's replicas run (``driver.start``), traffic is ``{stable: 100}``, and versions of the
   service that no record wants (a failed or aborted rollout, an old stable version, leftovers
   of a crash) are stopped — once :data:`DRAIN_SECONDS` have passed since they last had
   traffic, so no request in flight is cut.
3. **Environments**: expired ephemeral ones (and ones left ``deleting``) are torn down.

Deadlines (``progress_deadline``) are enforced by the tick itself.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from goldenpath import processes
from goldenpath.deploy import _ctx, _steps, store
from goldenpath.deploy._builds import BuildJobs
from goldenpath.deploy._workload import run_spec
from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.records import TERMINAL, Deployment, Target
from goldenpath.drivers.base import ReplicaStatus, RuntimeDriver
from goldenpath.errors import Conflict, NotFound, PlatformError
from goldenpath.settings import Settings
from goldenpath.store import leases

__all__ = ["BUSY_INTERVAL", "DRAIN_SECONDS", "ReconcileReport", "Reconciler", "lease_name"]

_log = logging.getLogger(__name__)

#: seconds a version keeps running after its last traffic left it (requests in flight finish)
DRAIN_SECONDS = 1.0
#: seconds between two attempts to restart a stable version whose replicas are all down
_RESTORE_BACKOFF = 30.0
#: seconds between passes while a deployment is in flight (at most the reconcile interval)
BUSY_INTERVAL = 0.25
_VERSION = re.compile(r"^d(\d+)$")


def lease_name(service: str, environment: str) -> str:
    """The lease that claims a target's rollout: ``deploy:<service>:<environment>``."""
    return f"deploy:{service}:{environment}"


@dataclass
class ReconcileReport:
    """What one pass did: deployments ticked (ids) and finished (id → final state), targets
    settled (``"service/environment"``), environments torn down, and errors (one line each;
    a failing item never stops the pass)."""

    advanced: list[int] = field(default_factory=list)
    finished: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    torn_down: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able ``{advanced, finished, skipped, settled, tornDown, errors}``."""
        return {
            "advanced": list(self.advanced),
            "finished": {str(k): v for k, v in self.finished.items()},
            "skipped": list(self.skipped),
            "settled": list(self.settled),
            "tornDown": list(self.torn_down),
            "errors": list(self.errors),
        }


class Reconciler:
    """Drives deployments and repairs drift for one process (see the module docstring).

    Args:
        engine: the store's SQLAlchemy engine (migrated).
        settings: ``deploy`` (interval, lease ttl) and ``runtime`` (start timeout) are read.
        driver: the runtime driver every environment uses.
        clock: returns aware UTC now.
    """

    def __init__(
        self,
        *,
        engine: Any,
        settings: Settings,
        driver: RuntimeDriver,
        clock: Callable[[], datetime],
        provisioner: Provisioner | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.driver = driver
        self.clock = clock
        self.holder = processes.holder_id()
        self.builds = BuildJobs(on_done=self.wake)
        self.ctx = _ctx.Ctx(
            engine=engine,
            driver=driver,
            settings=settings,
            clock=clock,
            builds=self.builds,
            settle=self.settle,
            note_route=self.note_route,
            provisioner=provisioner or Provisioner(),
        )
        self._pass_lock = threading.Lock()
        self._target_locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._unrouted: dict[tuple[str, str, str], float] = {}  # → clock seconds
        self._restored: dict[tuple[str, str, str], float] = {}
        self._route_signatures: dict[tuple[str, str], frozenset[tuple[str, int, int | None]]] = {}
        self._held: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run passes every ``settings.deploy.reconcile_interval`` s in a daemon thread
        (no-op when the interval is 0 or the loop already runs)."""
        interval = self.settings.deploy.reconcile_interval
        if interval <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="deploy-reconciler", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the interval (a new deployment,
        a promote): shaves up to ``reconcile_interval`` off the time to react."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and give up the leases this process holds (another server may
        resume at once). Deployed services keep running; builds in flight are abandoned
        (the next reconciler starts them again)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for name in sorted(self._held):
            try:
                leases.release(self.engine, name, self.holder)
            except Exception:  # the database may already be gone at shutdown
                _log.warning("could not release lease %s", name, exc_info=True)
        self._held.clear()

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                report = self.reconcile_once()
                busy = bool(report.advanced) and not set(report.advanced) <= set(report.finished)
                for line in report.errors:
                    _log.warning("reconciler: %s", line)
            except Exception:  # the database may be briefly unavailable; next pass retries
                _log.warning("reconciler pass failed", exc_info=True)
            # while a rollout moves, look again soon (replicas become ready, steps complete)
            self._wake.wait(min(interval, BUSY_INTERVAL) if busy else interval)
            self._wake.clear()

    # -- one pass ------------------------------------------------------------------------

    def reconcile_once(self) -> ReconcileReport:
        """One pass over in-flight deployments, settled targets and expiring environments."""
        report = ReconcileReport()
        with self._pass_lock:
            drivers = {e.name: e.driver for e in store.list_environments(self.engine)}
            flying = store.in_flight(self.engine)
            for d in flying:
                if drivers.get(d.environment, self.driver.name) == self.driver.name:
                    self._tick(d, report)
                else:
                    self._interrupted_elsewhere(d, report)
            self.builds.forget_others({d.id for d in flying})
            for target in store.list_targets(self.engine):
                if drivers.get(target.environment, self.driver.name) == self.driver.name:
                    self._settle_target(target, report)
            self._environments(report)
        return report

    def _interrupted_elsewhere(self, d: Deployment, report: ReconcileReport) -> None:
        """A deployment of an environment another driver serves (kubernetes: rendered and
        committed in the request itself) still in flight after ``lease_ttl`` was cut off by
        a crash: fail it so the service can be deployed again."""
        age = (self.clock() - d.created_at).total_seconds()
        if age < self.settings.deploy.lease_ttl:
            return
        with contextlib.suppress(Conflict):
            store.transition(
                self.engine,
                d.id,
                "failed",
                actor=_ctx.ACTOR,
                reason="interrupted before its commit (the server stopped); deploy again",
                now=self.clock(),
            )
            report.finished[d.id] = "failed"

    def target_lock(self, service: str, environment: str) -> threading.RLock:
        """The in-process lock serialising ticks and settles of one target."""
        with self._locks_lock:
            return self._target_locks.setdefault((service, environment), threading.RLock())

    def claim(self, service: str, environment: str) -> bool:
        """Take (or extend) the target's lease for this process; a lease held by a process
        that no longer exists on this host is taken over."""
        name = lease_name(service, environment)
        ttl = self.settings.deploy.lease_ttl
        now = self.clock()
        if leases.acquire(self.engine, name, self.holder, ttl=ttl, now=now):
            self._held.add(name)
            return True
        holder = leases.holder_of(self.engine, name, now=now)
        if holder is not None and processes.holder_gone(holder):
            leases.release(self.engine, name, holder)
            if leases.acquire(self.engine, name, self.holder, ttl=ttl, now=now):
                _log.info("took over %s from %s (process gone)", name, holder)
                self._held.add(name)
                return True
        return False

    def unclaim(self, service: str, environment: str) -> None:
        """Give the target's lease up."""
        name = lease_name(service, environment)
        leases.release(self.engine, name, self.holder)
        self._held.discard(name)

    def _tick(self, d: Deployment, report: ReconcileReport) -> None:
        if not self.claim(d.service, d.environment):
            report.skipped.append(d.id)
            return
        try:
            with self.target_lock(d.service, d.environment):
                after = _steps.advance(self.ctx, d)
            report.advanced.append(d.id)
            if after.state in TERMINAL:
                report.finished[d.id] = after.state
                self.unclaim(d.service, d.environment)
        except PlatformError as e:
            report.errors.append(f"{d.version} ({d.service}/{d.environment}): {e.message}")
        except Exception as e:  # a driver bug must not stop the pass for other services
            _log.exception("reconciler: %s failed", d.version)
            report.errors.append(f"{d.version} ({d.service}/{d.environment}): {e!r}")

    def _settle_target(self, target: Target, report: ReconcileReport) -> None:
        if target.active_id is not None:
            return  # its tick owns the traffic; settle runs when it ends
        if not self.claim(target.service, target.environment):
            return
        try:
            self.settle(target.service, target.environment)
            report.settled.append(f"{target.service}/{target.environment}")
        except PlatformError as e:
            report.errors.append(f"settle {target.service}/{target.environment}: {e.message}")
        except Exception as e:
            _log.exception("reconciler: settling %s/%s failed", target.service, target.environment)
            report.errors.append(f"settle {target.service}/{target.environment}: {e!r}")
        finally:
            self.unclaim(target.service, target.environment)

    # -- settle --------------------------------------------------------------------------

    def settle(self, service: str, environment: str) -> None:
        """Make the driver match a target nobody is rolling out: the stable version runs and
        takes all traffic; versions no record wants stop (after draining). With a rollout in
        flight only stray versions (neither stable nor in flight) are stopped."""
        with self.target_lock(service, environment):
            target = store.get_target(self.engine, service, environment)
            if target is None:
                return
            stable = self._deployment(target.stable_id)
            active = self._deployment(target.active_id)
            if active is not None and active.state in TERMINAL:
                active = None
            replicas = self.driver.replicas(environment, service)
            if active is None:
                if stable is not None:
                    self._restore(stable, replicas)
                    self._route(target, {stable.version: 100}, replicas)
                elif target.weights or replicas:
                    self._mark_unrouted(target, {})
                    self.driver.teardown(environment, service)
                    store.set_weights(self.engine, service, environment, {}, now=self.clock())
                    return
            wanted = {d.version for d in (stable, active) if d is not None}
            self._stop_strays(target, {r.version for r in replicas} - wanted)

    def _deployment(self, deployment_id: int | None) -> Deployment | None:
        if deployment_id is None:
            return None
        try:
            return store.get_deployment(self.engine, deployment_id)
        except NotFound:
            return None

    def _route(
        self, target: Target, weights: dict[str, int], replicas: list[ReplicaStatus]
    ) -> None:
        """Apply ``weights`` when they, or the replicas of the routed versions, changed since
        this process last routed the service (or the router lost the route)."""
        service, environment = target.service, target.environment
        signature = frozenset(
            (r.version, r.replica, r.port) for r in replicas if r.version in weights
        )
        key = (environment, service)
        if (
            dict(target.weights) == weights
            and self._route_signatures.get(key) == signature
            and self.driver.urls(environment, service) is not None
        ):
            return
        self.driver.route(environment, service, weights)
        self._route_signatures[key] = signature
        self._mark_unrouted(target, weights)
        store.set_weights(self.engine, service, environment, weights, now=self.clock())

    def _seconds(self) -> float:
        """Now on the injected clock, as epoch seconds (drain and backoff timers)."""
        return self.clock().timestamp()

    def _mark_unrouted(self, target: Target, weights: Mapping[str, int]) -> None:
        self.note_route(target.environment, target.service, target.weights, weights)

    def note_route(
        self, environment: str, service: str, old: Mapping[str, int], new: Mapping[str, int]
    ) -> None:
        """Remember when versions lost their traffic (``old`` → ``new`` weights), so they
        are stopped only after :data:`DRAIN_SECONDS`."""
        now = self._seconds()
        for version, weight in old.items():
            if weight > 0 and new.get(version, 0) == 0:
                self._unrouted[(environment, service, version)] = now
        for version, weight in new.items():
            if weight > 0:
                self._unrouted.pop((environment, service, version), None)

    def _stop_strays(self, target: Target, versions: Iterable[str]) -> None:
        now = self._seconds()
        for version in sorted(versions):
            key = (target.environment, target.service, version)
            if target.weights.get(version, 0) > 0:
                continue  # still routed: the route changes first
            left = self._unrouted.get(key)
            if left is not None and now - left < DRAIN_SECONDS:
                continue
            if self._wanted_elsewhere(version, target):
                continue
            self.driver.stop(target.environment, target.service, version)
            self._unrouted.pop(key, None)
            _log.info(
                "stopped %s of %s in %s (no record wants it)",
                version,
                target.service,
                target.environment,
            )

    def _wanted_elsewhere(self, version: str, target: Target) -> bool:
        """A version of a deployment created after ``target`` was read is not a stray."""
        match = _VERSION.match(version)
        if match is None:
            return False
        d = self._deployment(int(match.group(1)))
        return (
            d is not None
            and d.state not in TERMINAL
            and d.service == target.service
            and d.environment == target.environment
        )

    def _restore(self, stable: Deployment, replicas: list[ReplicaStatus]) -> None:
        workload = self.ctx.workload(stable)
        want = max(1, int(workload.runtime.replicas))
        mine = {r.replica: r for r in replicas if r.version == stable.version}
        missing = [i for i in range(want) if i not in mine]
        all_down = bool(mine) and all(r.state in ("failed", "stopped") for r in mine.values())
        if not missing and not all_down:
            return
        key = (stable.environment, stable.service, stable.version)
        if all_down:
            last = self._restored.get(key)
            if last is not None and self._seconds() - last < _RESTORE_BACKOFF:
                return
        release = self.driver.release(stable.service, stable.release_id or "")
        if release is None:
            _log.warning(
                "cannot restore %s of %s: release %s is gone",
                stable.version,
                stable.service,
                stable.release_id,
            )
            return
        if all_down:
            self.driver.stop(stable.environment, stable.service, stable.version)
        self._restored[key] = self._seconds()
        _log.info("restoring %s of %s in %s", stable.version, stable.service, stable.environment)
        self.driver.start(
            stable.environment,
            stable.service,
            stable.version,
            release,
            run_spec(workload, self.settings, env=self.ctx.process_env(stable)),
            want,
        )

    # -- environments --------------------------------------------------------------------

    def _environments(self, report: ReconcileReport) -> None:
        now = self.clock()
        names = {e.name for e in store.expired_environments(self.engine, now)}
        names |= {e.name for e in store.list_environments(self.engine) if e.status == "deleting"}
        for name in sorted(names):
            try:
                self.teardown_environment(name, actor=_ctx.ACTOR, reason="its TTL expired")
                report.torn_down.append(name)
            except PlatformError as e:
                report.errors.append(f"environment {name}: {e.message}")

    def teardown_environment(self, name: str, *, actor: str, reason: str) -> None:
        """Abort what is in flight in ``name``, stop everything of it in the driver, delete
        its resources (each database after a final backup), forget its targets and drop it
        (deployments stay as history). Idempotent."""
        try:
            store.mark_environment_deleting(self.engine, name)
        except NotFound:
            return
        for d in store.in_flight(self.engine):
            if d.environment != name:
                continue
            with self.target_lock(d.service, d.environment), contextlib.suppress(Conflict):
                store.transition(
                    self.engine,
                    d.id,
                    "aborted",
                    actor=actor,
                    reason=f"environment {name} deleted ({reason})",
                    now=self.clock(),
                )
        self.driver.teardown(name)
        self.ctx.provisioner.teardown_environment(name, actor=actor)
        store.delete_targets(self.engine, name)
        store.drop_environment(self.engine, name)
