"""Deploys to an environment whose driver is ``kubernetes``: render, validate, commit.

Issue 6, "GitOps": ``platform deploy --env production`` on such an environment renders the
workload (:mod:`goldenpath.deploy.rendering`), refuses it when any object fails schema
validation, and commits the objects to the environment's GitOps repository
(:class:`~goldenpath.drivers.kubernetes.gitops.GitOpsRepo`, settings ``gitops_repo`` —
default ``<home>/gitops`` — and ``gitops_remote``), where Argo CD or Flux apply them. It all
happens in the request: the deployment record walks ``pending → building (rendered) →
progressing (committing) → succeeded`` with the commit in its message; an unchanged render
succeeds without a commit. A rollback restores the service's folder as an earlier
deployment's commit left it, from local history (no remote needed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from goldenpath.deploy import store
from goldenpath.deploy.records import Deployment, Environment
from goldenpath.deploy.rendering import RenderResult
from goldenpath.drivers.kubernetes.apply import apply_objects
from goldenpath.drivers.kubernetes.gitops import GitOpsRepo
from goldenpath.errors import InvalidInput, PlatformError

__all__ = ["check_render", "commit_render", "kubeconfig_of", "repository", "restore"]

#: schema errors quoted in a refused deploy (the rest are counted)
_SHOWN_ERRORS = 10


def repository(env: Environment, home: Path) -> GitOpsRepo:
    """The environment's GitOps repository: ``settings.gitops_repo`` (a local path; default
    ``<home>/gitops``) pushed to ``settings.gitops_remote`` when set."""
    path = Path(str(env.settings.get("gitops_repo") or home / "gitops")).expanduser()
    remote = env.settings.get("gitops_remote") or None
    return GitOpsRepo(path, remote=str(remote) if remote else None)


def check_render(result: RenderResult) -> None:
    """Refuse a render with schema errors before anything is recorded.

    Raises:
        InvalidInput: listing the first errors (``Kind/name: path: message``).
    """
    if not result.errors:
        return
    shown = "; ".join(result.errors[:_SHOWN_ERRORS])
    more = len(result.errors) - _SHOWN_ERRORS
    raise InvalidInput(
        f"the rendered objects of {result.service} are not valid Kubernetes objects: {shown}"
        + (f" (and {more} more)" if more > 0 else "")
        + "; `platform render --env "
        + result.environment
        + "` shows them all",
        details={"errors": result.errors},
    )


def commit_render(
    engine: Engine,
    d: Deployment,
    result: RenderResult,
    repo: GitOpsRepo,
    *,
    actor: str,
    now: datetime,
    kubeconfig: Path | None = None,
) -> Deployment:
    """Walk ``d`` through its states while committing ``result`` (module doc); a failed
    commit fails the deployment with git's reason. With ``kubeconfig`` (the environment's
    ``kubeconfig`` setting) the objects are also applied directly (server-side apply, pruned
    by label; :mod:`goldenpath.drivers.kubernetes.apply`): a failed apply fails the
    deployment, the commit stays. Returns the deployment as left."""
    d = store.transition(
        engine,
        d.id,
        "building",
        actor=actor,
        reason=f"rendered {len(result.objects)} objects for {result.environment}",
        now=now,
    )
    d = store.transition(
        engine, d.id, "progressing", actor=actor, reason=f"committing to {repo.path}", now=now
    )
    try:
        sha = repo.write(
            result.environment, result.service, result.objects, deployment_id=d.id, author=actor
        )
    except PlatformError as e:
        return store.transition(
            engine, d.id, "failed", actor=actor, reason=f"commit failed: {e.message}", now=now
        )
    reason = (
        f"committed {sha[:12]} to {repo.path}; Argo CD / Flux apply it"
        if sha
        else f"unchanged: {repo.path} already holds this render (no commit)"
    )
    if repo.push_error:
        reason += f"; not pushed yet: {repo.push_error}"
    if kubeconfig is not None:
        try:
            done = apply_objects(result.objects, service=result.service, kubeconfig=kubeconfig)
        except PlatformError as e:
            return store.transition(
                engine, d.id, "failed", actor=actor, reason=f"{reason}; apply failed: {e.message}",
                now=now,
            )  # fmt: skip
        reason += f"; applied {len(done['applied'])} objects, pruned {len(done['pruned'])}"
    return store.transition(engine, d.id, "succeeded", actor=actor, reason=reason, now=now)


def kubeconfig_of(env: Environment) -> Path | None:
    """The environment's ``kubeconfig`` setting (direct apply), or None (GitOps only)."""
    value = env.settings.get("kubeconfig")
    return Path(str(value)).expanduser() if value else None


def restore(
    engine: Engine,
    d: Deployment,
    source: Deployment,
    repo: GitOpsRepo,
    *,
    actor: str,
    now: datetime,
) -> Deployment:
    """Roll ``d`` (a ``rollback`` record) back to ``source``'s commit of the service's
    folder (local history); fails ``d`` with the reason when that commit is unknown."""
    d = store.transition(
        engine, d.id, "building", actor=actor, reason=f"restoring {source.version}", now=now
    )
    d = store.transition(
        engine, d.id, "progressing", actor=actor, reason=f"committing to {repo.path}", now=now
    )
    try:
        sha = repo.rollback(
            source.environment, source.service, to_deployment_id=source.id, actor=actor
        )
    except PlatformError as e:
        return store.transition(
            engine, d.id, "failed", actor=actor, reason=f"rollback failed: {e.message}", now=now
        )
    reason = f"restored {source.version}: committed {sha[:12]} to {repo.path}"
    return store.transition(engine, d.id, "succeeded", actor=actor, reason=reason, now=now)
