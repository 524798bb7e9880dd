"""Rollback and redeploy: a service's earlier or current release rolled out again.

Private to :mod:`goldenpath.deploy`: :class:`Reruns` is the part of
:class:`~goldenpath.deploy.service.DeployService` that records ``rollback`` and ``redeploy``
deployments (from the release on local disk — no git, no build — or, on a kubernetes
environment, from the GitOps repository's history) and redeploys the consumers of rotated
secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from goldenpath.deploy import gitops, store
from goldenpath.deploy._rollback import copy_build, rollback_source
from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.reconciler import Reconciler
from goldenpath.deploy.records import Deployment, Environment
from goldenpath.deploy.strategies import plan_steps
from goldenpath.drivers.base import RuntimeDriver
from goldenpath.errors import Conflict, NotFound
from goldenpath.settings import Settings
from goldenpath.workloads.model import Workload

__all__ = ["Reruns"]

_log = logging.getLogger("goldenpath.deploy.service")


class Reruns:
    """Rollback/redeploy methods of the deploy service (the attributes are its own)."""

    engine: Any
    settings: Settings
    driver: RuntimeDriver
    clock: Callable[[], datetime]
    provisioner: Provisioner
    reconciler: Reconciler

    def redeploy(self, service: str, environment: str, *, actor: str, reason: str) -> Deployment:
        """Roll the version that serves now out again, same release, fresh process
        environment (after a secret rotation: new replicas get the new credentials before
        the old ones leave — no downtime). Records a ``redeploy`` deployment (rolling; its
        ``rollbackOf`` names the deployment redeployed) and returns it (``pending``).

        Raises:
            NotFound: the service has no successful deployment in ``environment``.
            Conflict: its release is gone from this machine, or a deployment is in flight.
        """
        store.get_environment(self.engine, environment)
        target = store.get_target(self.engine, service, environment)
        if target is None or target.stable_id is None:
            raise NotFound(f"{service} has no successful deployment in {environment} to redeploy")
        current = store.get_deployment(self.engine, target.stable_id)
        return self._rerun(
            "redeploy", current, actor=actor, message=f"redeploying {current.version}: {reason}"
        )

    def _rerun(self, kind: str, source: Deployment, *, actor: str, message: str) -> Deployment:
        """Record a rolling ``kind`` deployment (``rollback``/``redeploy``) of ``source``'s
        release from local disk (no git, no build) and wake the reconciler.

        Raises:
            Conflict: the release is gone from this machine, or a deployment is in flight.
        """
        env = store.get_environment(self.engine, source.environment)
        if env.driver == "kubernetes":
            return self._rerun_gitops(kind, source, env, actor=actor, message=message)
        release_id = source.release_id
        if release_id is None or self.driver.release(source.service, release_id) is None:
            raise Conflict(
                f"the release of {source.version} ({release_id}) is no longer on this machine; "
                "deploy its commit again: "
                f"platform deploy --env {source.environment} --ref {source.sha or source.ref}",
                details={"id": source.id, "releaseId": release_id},
            )
        d = self._record_rerun(kind, source, actor=actor, message=message)
        copy_build(self.engine, d, source)
        self.reconciler.wake()
        return store.get_deployment(self.engine, d.id)

    def _record_rerun(
        self, kind: str, source: Deployment, *, actor: str, message: str
    ) -> Deployment:
        """A new rolling ``kind`` deployment of ``source``'s commit and workload, with
        ``message`` (``Conflict`` when one is in flight)."""
        d = store.create_deployment(
            self.engine,
            service=source.service,
            environment=source.environment,
            kind=kind,
            strategy="rolling",
            repo=source.repo,
            ref=source.sha or source.ref,
            workload=source.workload,
            steps=plan_steps(Workload.from_dict(source.workload), strategy="rolling"),
            triggered_by=actor,
            rollback_of=source.id,
            now=self.clock(),
        )
        return store.update_progress(self.engine, d.id, message=message)

    def redeploy_rotated(self, rotated: Sequence[Any], *, actor: str) -> list[Deployment]:
        """Redeploy every service a secret rotation gave new values to (``platform secrets
        rotate``: new replicas with the new credentials come up before the old ones leave).

        ``rotated``: :class:`goldenpath.secrets.model.RotationResult` items. A service with a
        deployment in flight is skipped with a warning in the log (redeploy it once that
        ends). Returns the ``redeploy`` deployments recorded.
        """
        found = self.provisioner.rotated_targets(rotated, store.list_targets(self.engine))
        recorded = []
        for (service, environment), names in sorted(found.items()):
            reason = f"new values of {', '.join(sorted(set(names)))}"
            try:
                recorded.append(self.redeploy(service, environment, actor=actor, reason=reason))
            except (Conflict, NotFound) as e:
                _log.warning("not redeploying %s in %s: %s", service, environment, e.message)
        return recorded

    def _rerun_gitops(
        self, kind: str, source: Deployment, env: Environment, *, actor: str, message: str
    ) -> Deployment:
        """``_rerun`` on a kubernetes environment: the GitOps repository's folder of the
        service goes back to ``source``'s commit (local history; no build, no remote)."""
        d = self._record_rerun(kind, source, actor=actor, message=message)
        repo = gitops.repository(env, self.settings.home)
        return gitops.restore(self.engine, d, source, repo, actor=actor, now=self.clock())

    def rollback(
        self, service: str, environment: str, *, actor: str, to: int | None = None
    ) -> Deployment:
        """Return to the previous successful deployment (or deployment ``to``) with its own
        release from local disk — no git, no build (``platform deploy rollback [--to ID]``).
        Records a ``rollback`` deployment (rolling) and returns it (``pending``).

        Raises:
            NotFound: the service never succeeded here, no earlier successful deployment,
                or ``to`` does not exist.
            InvalidInput: ``to`` belongs to another service/environment.
            Conflict: ``to`` did not succeed or is what serves now, its release is no
                longer on disk, or a deployment is in flight.
        """
        store.get_environment(self.engine, environment)
        target = store.get_target(self.engine, service, environment)
        if target is None or target.stable_id is None:
            raise NotFound(
                f"{service} has no successful deployment in {environment} to roll back from"
            )
        current = store.get_deployment(self.engine, target.stable_id)
        old = rollback_source(self.engine, current, to)
        return self._rerun(
            "rollback",
            old,
            actor=actor,
            message=f"rolling back from {current.version} to {old.version} ({old.release_id})",
        )
