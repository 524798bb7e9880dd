"""One reconciler tick of one in-flight deployment: the state machine's side effects.

Private to :mod:`goldenpath.deploy` (the reconciler calls :func:`advance`). Each tick reads
the record, does what the current state/step needs, and writes its progress to the store
before returning, so a server killed at any point leaves a record the next tick resumes:
every driver call is idempotent, and a step is only marked done after its effect is
observed (replicas ready, route applied, measurement taken).

    pending     → resolve the commit (when not yet known)                → building
    building    → build in the background (or reuse the recorded release) → progressing
    progressing → run ``steps[step_index]``; after the last step scale the new version
                  to its replicas, then → succeeded (the reconciler's settle moves all
                  traffic to it and stops the old version once drained)
    paused      → a ``pause`` step (timed, or until promoted), an inconclusive analysis, or a
                  failed analysis with ``rollback: manual`` — waits for the timer or a person

Failures (build, readiness, a replica that keeps crashing, progress deadline) → ``failed``; a
failed analysis → ``aborted``; both followed by settle, which returns all traffic to the
stable version and stops the new one.
"""

from __future__ import annotations

from datetime import timedelta

from goldenpath.deploy import _workload as wl
from goldenpath.deploy import store
from goldenpath.deploy._ctx import ACTOR, Ctx, Moved, fail, move, plain_note
from goldenpath.deploy._rollout import Tick
from goldenpath.deploy.records import TERMINAL, Deployment, iso
from goldenpath.errors import PlatformError, Unavailable

__all__ = ["ACTOR", "advance"]

#: seconds a new record may lack its commit before the reconciler resolves the ref itself
_SERVICE_GRACE = 5.0


def advance(ctx: Ctx, d: Deployment) -> Deployment:
    """Run one tick of ``d``; returns the record as left. Never raises for the deployment's
    own failures (they are recorded); store/driver outages propagate to the caller."""
    if d.state in TERMINAL:
        return d
    try:
        if d.state == "pending":
            return _pending(ctx, d)
        if d.state == "building":
            return _building(ctx, d)
        return Tick(ctx, d).run()
    except Moved:
        return store.get_deployment(ctx.engine, d.id)


# -- pending and building ------------------------------------------------------------------


def _pending(ctx: Ctx, d: Deployment) -> Deployment:
    if (
        d.kind in ("rollback", "redeploy")
        and d.rollback_of is not None
        and (d.release_id is None or d.sha is None)
    ):
        d = _copy_rollback_source(ctx, d)
    elif d.repo and d.sha is None and ctx.workload(d).build.kind != "package":
        if (ctx.clock() - d.created_at).total_seconds() < _SERVICE_GRACE:
            return d  # the service records the commit it read the spec at in a moment
        try:
            rev = ctx.driver.resolve(d.repo, d.ref or "HEAD")
        except Unavailable as e:
            deadline = d.created_at + timedelta(
                seconds=ctx.workload(d).deployment.progress_deadline
            )
            if ctx.clock() < deadline:
                return store.update_progress(
                    ctx.engine, d.id, message=f"waiting for git: {e.message}"
                )
            return fail(ctx, d, f"cannot resolve {d.ref} in {d.repo}: {e.message}")
        except PlatformError as e:
            return fail(ctx, d, f"cannot resolve {d.ref} in {d.repo}: {e.message}")
        d = store.set_revision(
            ctx.engine, d.id, sha=rev.sha, committed_at=rev.committed_at, commit_author=rev.author
        )
    what = f"release {d.release_id}" if d.release_id else f"{d.sha[:12] if d.sha else 'package'}"
    return move(ctx, d, "building", f"building {what}{plain_note(d)}")


def _provision(ctx: Ctx, d: Deployment) -> Deployment | None:
    """Resources and secrets before the build (cached after the first success): ``None``
    to go on, else the deployment as left — failed (a refused claim) or waiting (the
    managed cluster is unavailable; retried until the progress deadline)."""
    try:
        ctx.process_env(d)
    except Unavailable as e:
        deadline = d.created_at + timedelta(seconds=ctx.workload(d).deployment.progress_deadline)
        if ctx.clock() < deadline:
            return store.update_progress(
                ctx.engine, d.id, message=f"waiting for resources: {e.message}"
            )
        return fail(ctx, d, f"resources not ready: {e.message}")
    except PlatformError as e:
        return fail(ctx, d, f"resources: {e.message}")
    return None


def _copy_rollback_source(ctx: Ctx, d: Deployment) -> Deployment:
    assert d.rollback_of is not None
    source = store.get_deployment(ctx.engine, d.rollback_of)
    if source.sha and d.sha is None and source.committed_at and source.commit_author is not None:
        d = store.set_revision(
            ctx.engine,
            d.id,
            sha=source.sha,
            committed_at=source.committed_at,
            commit_author=source.commit_author,
        )
    if source.release_id and d.release_id is None:
        d = store.set_release(ctx.engine, d.id, source.release_id)
    return d


def _building(ctx: Ctx, d: Deployment) -> Deployment:
    workload = ctx.workload(d)
    if d.kind in ("rollback", "redeploy") and d.release_id is None:
        d = _copy_rollback_source(ctx, d)
    if d.release_id is None:
        try:
            wl.check_deployable(workload, repo=d.repo)
        except PlatformError as e:
            return fail(ctx, d, e.message)
        waiting = _provision(ctx, d)
        if waiting is not None:
            return waiting
        request = wl.build_request(workload, repo=d.repo, sha=d.sha)
        job = ctx.builds.get_or_start(d.id, lambda log: ctx.driver.build(request, log))
        if not job.done.is_set():
            line = job.last_line
            if line and d.message != f"building: {line}":
                return store.update_progress(ctx.engine, d.id, message=f"building: {line}")
            return d
        if job.error is not None or job.release is None:
            error = job.error
            text = error.message if isinstance(error, PlatformError) else repr(error)
            return fail(ctx, d, f"build failed: {text}")
        d = store.set_release(ctx.engine, d.id, job.release.id)
        ctx.builds.forget(d.id)
    elif ctx.driver.release(d.service, d.release_id) is None:
        return fail(
            ctx,
            d,
            f"release {d.release_id} is no longer on disk; deploy the commit again "
            "(platform deploy --ref <sha>)",
        )
    deadline = ctx.clock() + timedelta(seconds=workload.deployment.progress_deadline)
    progress = {**dict(d.progress), "deadlineAt": iso(deadline)}
    return move(
        ctx, d, "progressing", f"release {d.release_id} ready; rolling out", progress=progress
    )
