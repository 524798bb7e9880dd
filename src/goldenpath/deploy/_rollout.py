"""The rollout of one progressing/paused deployment: its steps, run until one has to wait.

Private to :mod:`goldenpath.deploy` (called by :func:`goldenpath.deploy._steps.advance`).
A step handler returns True once its effect is observed (replicas ready, route applied,
measurement taken, pause over); progress is written before the tick returns, so a killed
server's successor repeats at most the idempotent driver calls of the current step. After
the last step the new version is scaled to its replicas and the deployment succeeds; the
reconciler's settle then gives it 100 % and stops the old version once drained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from goldenpath.deploy import _workload as wl
from goldenpath.deploy import analysis as an
from goldenpath.deploy import store
from goldenpath.deploy._ctx import Ctx, Failed, fail, move, parse_time, plain_note
from goldenpath.deploy.records import Deployment, iso
from goldenpath.deploy.strategies import analysis_from_step, describe_step, step_kind
from goldenpath.drivers.base import Release, ReplicaStatus, RunSpec
from goldenpath.errors import Conflict, InvalidInput, Unavailable

__all__ = ["Tick"]

#: a replica restarted this often while never ready counts as crashing
_MAX_RESTARTS = 2
#: seconds beyond ``start_timeout`` before the engine gives up on readiness itself
_READY_GRACE = 5.0


class Tick:
    """The steps of one progressing/paused deployment, run until one has to wait."""

    def __init__(self, ctx: Ctx, d: Deployment) -> None:
        self.ctx = ctx
        self.d = d
        self.now = ctx.clock()
        self.progress: dict[str, Any] = _plain(d.progress)
        self.workload = ctx.workload(d)
        self.run_spec: RunSpec = wl.run_spec(self.workload, ctx.settings, env=ctx.process_env(d))
        self.replicas = max(1, int(self.workload.runtime.replicas))
        self.stable: Deployment | None = (
            store.get_deployment(ctx.engine, d.previous_id) if d.previous_id else None
        )
        self.release: Release | None = None

    # persistence --------------------------------------------------------------------------

    def save(self, *, step_index: int | None = None, message: str | None = None) -> None:
        """Write progress (and the next step / message) without a state change."""
        if message == self.d.message:
            message = None
        self.d = store.update_progress(
            self.ctx.engine,
            self.d.id,
            progress=self.progress,
            step_index=step_index,
            message=message,
            now=self.now,
        )

    def move(self, to: str, reason: str, *, step_index: int | None = None) -> None:
        """A state change carrying the current progress in the same transaction."""
        self.d = move(self.ctx, self.d, to, reason, progress=self.progress, step_index=step_index)

    # the loop -----------------------------------------------------------------------------

    def run(self) -> Deployment:
        try:
            self.release = self.ctx.driver.release(self.d.service, self.d.release_id or "")
            if self.release is None:
                raise Failed(f"release {self.d.release_id} is no longer on disk")
            for _ in range(len(self.d.steps) + 2):
                if self.d.state == "paused" and self.progress.get("hold"):
                    return self.d  # a person decides: promote or abort
                if self._deadline_passed():
                    raise Failed(
                        f"progress deadline of {self.workload.deployment.progress_deadline:g} s "
                        f"passed at {self._where()}"
                    )
                if self._promoted_full():
                    continue
                if self.d.step_index >= len(self.d.steps):
                    self._finalize()
                    return self.d
                if not self._step():
                    return self.d
            return self.d
        except Failed as failure:
            return self._failed(failure)
        except (Conflict, InvalidInput) as e:  # the driver refused: retrying changes nothing
            return self._failed(Failed(f"{self._where()}: {e.message}"))
        except Unavailable as e:  # transient: retried every pass until the progress deadline
            self.save(message=f"waiting at {self._where()}: {e.message}"[:2000])
            return self.d

    def _where(self) -> str:
        i, steps = self.d.step_index, self.d.steps
        if i >= len(steps):
            return "the final scale-up"
        return f"step {i + 1}/{len(steps)} ({describe_step(steps[i])})"

    def _deadline_passed(self) -> bool:
        if self.d.state == "paused" and self.progress.get("hold"):
            return False  # waiting for a person: the clock restarts on promote
        deadline = parse_time(self.progress.get("deadlineAt"))
        return deadline is not None and self.now > deadline

    def _promoted_full(self) -> bool:
        promoted = self.progress.get("promoted") or {}
        if promoted.get("full") and self.d.step_index < len(self.d.steps):
            self.progress["step"] = None
            self.save(
                step_index=len(self.d.steps), message="promoted: skipping the remaining steps"
            )
            return True
        return False

    def _step(self) -> bool:
        """Run the current step; True when it completed (the loop goes on)."""
        i = self.d.step_index
        step = self.d.steps[i]
        state = self.progress.get("step")
        if not isinstance(state, dict) or state.get("index") != i:
            state = {"index": i, "startedAt": iso(self.now)}
            self.progress["step"] = state
        kind = step_kind(step)
        done = _HANDLERS[kind](self, step, state)
        if not done:
            return False
        history = self.progress.setdefault("completed", [])
        history.append({"index": i, "step": describe_step(step), "at": iso(self.now)})
        self.progress["step"] = None
        if self.d.state == "paused":
            self.move("progressing", f"{describe_step(step)} over", step_index=i + 1)
        else:
            self.save(
                step_index=i + 1,
                message=f"step {i + 1}/{len(self.d.steps)} done: {describe_step(step)}",
            )
        return True

    def promoted_here(self) -> bool:
        promoted = self.progress.get("promoted") or {}
        return promoted.get("step") == self.d.step_index

    # replicas and routes ------------------------------------------------------------------

    def ensure_ready(self, count: int, since: datetime) -> bool:
        """Replicas ``0..count-1`` of the new version run; True once all are ready.

        Raises Failed when one failed, keeps crashing, or is not ready in time."""
        assert self.release is not None
        statuses = self.ctx.driver.start(
            self.d.environment, self.d.service, self.d.version, self.release, self.run_spec, count
        )
        mine = [r for r in statuses if r.version == self.d.version and r.replica < count]
        _check_crashes(self.d, mine)
        ready = sum(1 for r in mine if r.state == "ready")
        if ready >= count:
            return True
        limit = self.run_spec.start_timeout
        if (self.now - since).total_seconds() > limit + _READY_GRACE:
            raise Failed(
                f"{count - ready} of {count} replicas of {self.d.version} not ready within "
                f"{limit:g} s (readiness {self.run_spec.readiness_path or 'TCP'}); see "
                f"platform logs {self.d.service} --env {self.d.environment}"
            )
        self.save(message=f"waiting for {self.d.version}: {ready}/{count} replicas ready")
        return False

    def route(self, new_weight: int) -> None:
        """Send ``new_weight`` % to the new version and the rest to the stable one (called
        once per completed step; the driver's route is idempotent)."""
        if self.stable is None:
            weights = {self.d.version: 100}
        else:
            weights = {self.stable.version: 100 - new_weight, self.d.version: new_weight}
        target = store.get_target(self.ctx.engine, self.d.service, self.d.environment)
        old = dict(target.weights) if target is not None else {}
        # always applied: the weights may be the same while the new version gained replicas
        self.ctx.driver.route(self.d.environment, self.d.service, weights)
        self.ctx.note_route(self.d.environment, self.d.service, old, weights)
        store.set_weights(
            self.ctx.engine, self.d.service, self.d.environment, weights, now=self.now
        )

    # the end ------------------------------------------------------------------------------

    def _finalize(self) -> None:
        state = self.progress.get("finalize")
        if not isinstance(state, dict):
            state = self.progress["finalize"] = {"startedAt": iso(self.now)}
        since = parse_time(state.get("startedAt")) or self.now
        if not self.ensure_ready(self.replicas, since):
            return
        target = store.get_target(self.ctx.engine, self.d.service, self.d.environment)
        if target is None or dict(target.weights).get(self.d.version) != 100:
            # traffic moves before the record says "succeeded" (a promote that skipped the
            # remaining steps left the canary's weight where it was)
            self.route(100)
        old = f"; {self.stable.version} leaves once drained" if self.stable else ""
        self.move(
            "succeeded",
            f"{self.d.version} serves 100% of {self.d.service} in {self.d.environment}{old}"
            f"{plain_note(self.d)}",
            step_index=len(self.d.steps),
        )
        self.ctx.builds.forget(self.d.id)
        self.ctx.settle(self.d.service, self.d.environment)

    def _failed(self, failure: Failed) -> Deployment:
        if failure.analysis and self.workload.deployment.rollback == "manual":
            self.progress["hold"] = {"reason": "analysis failed", "step": self.d.step_index}
            reason = (
                f"{failure.reason}; rollback is manual: traffic stays as it is — "
                f"platform deploy abort --env {self.d.environment} (back to the stable "
                f"version) or platform deploy promote --env {self.d.environment}"
            )
            if self.d.state == "paused":
                self.save(message=reason)
            else:
                self.move("paused", reason)
            return self.d
        to = "aborted" if failure.analysis else "failed"
        return fail(self.ctx, self.d, failure.reason, to=to, progress=self.progress)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_crashes(d: Deployment, replicas: list[ReplicaStatus]) -> None:
    for r in replicas:
        if r.state == "failed":
            raise Failed(
                f"replica r{r.replica} of {d.version} failed ({r.message or 'gave up'}); see "
                f"platform logs {d.service} --env {d.environment}"
            )
        if r.state == "backoff" and r.restarts >= _MAX_RESTARTS:
            raise Failed(
                f"replica r{r.replica} of {d.version} keeps crashing (restarted {r.restarts} "
                f"times); see platform logs {d.service} --env {d.environment}"
            )


# -- step handlers: each returns True when the step is complete ------------------------------


def _rolling_update(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    surge = max(1, int((step.get("rollingUpdate") or {}).get("maxSurge") or 1))
    count = int(s.get("replicas") or min(surge, t.replicas))
    since = parse_time(s.get("batchStartedAt")) or parse_time(s.get("startedAt")) or t.now
    if not t.ensure_ready(count, since):
        return False
    t.route(100 * count // t.replicas)
    if count >= t.replicas:
        return True
    s["replicas"] = min(t.replicas, count + surge)
    s["batchStartedAt"] = iso(t.now)
    t.save(message=f"{t.d.version}: {count}/{t.replicas} replicas ready, starting more")
    return False


def _set_weight(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    weight = max(0, min(100, int(step.get("setWeight") or 0)))
    count = max(1, math.ceil(t.replicas * weight / 100), int(t.progress.get("canaryReplicas") or 0))
    t.progress["canaryReplicas"] = count
    since = parse_time(s.get("startedAt")) or t.now
    if not t.ensure_ready(count, since):
        return False
    t.route(weight)
    return True


def _pause(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    duration = (step.get("pause") or {}).get("duration")
    if t.promoted_here():
        return True
    paused_at = parse_time(s.get("pausedAt"))
    if paused_at is None:
        s["pausedAt"] = iso(t.now)
        if duration is None:
            t.progress["hold"] = {"reason": "pause", "step": t.d.step_index}
            env = t.d.environment
            t.move(
                "paused",
                f"paused until promoted: platform deploy promote --env {env} {t.d.service}",
            )
        else:
            t.move("paused", f"pause {float(duration):g} s")
        return False
    return duration is not None and t.now >= paused_at + timedelta(seconds=float(duration))


def _analysis(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    if t.stable is None:
        return True  # nothing to compare with (a first deployment is planned as rolling)
    if t.promoted_here():
        return True
    rule = analysis_from_step(step)
    figures = t.ctx.driver.figures(t.d.environment, t.d.service)
    versions = (t.d.version, t.stable.version)
    snapshot = {v: an.figures_to_json(figures[v]) for v in versions if v in figures}
    started = parse_time(s.get("windowStartedAt"))
    if started is None or "baseline" not in s:
        s["baseline"], s["windowStartedAt"], s["measurements"] = snapshot, iso(t.now), []
        t.save(message=f"analysis: measuring {t.d.version} against {t.stable.version}")
        return False
    if (t.now - started).total_seconds() < rule.interval:
        return False
    baseline = s.get("baseline") or {}
    canary = an.delta(an.figures_from_json(baseline.get(t.d.version)), figures.get(t.d.version))
    stable = an.delta(
        an.figures_from_json(baseline.get(t.stable.version)), figures.get(t.stable.version)
    )
    result = an.evaluate(canary, stable, rule)
    s["measurements"] = [*s.get("measurements", []), {**result.to_dict(), "at": iso(t.now)}]
    s["baseline"], s["windowStartedAt"] = snapshot, iso(t.now)
    results = [
        an.AnalysisResult(m["phase"], m["reason"], m.get("figures") or {})
        for m in s["measurements"]
    ]
    phase = an.summarize(results, rule.count)
    n = len(results)
    if phase is not None:
        runs = t.progress.setdefault("analysisRuns", [])
        runs.append({"step": t.d.step_index, "phase": phase, "measurements": s["measurements"]})
    if phase == "Failed":
        raise Failed(f"analysis failed: {result.reason}", analysis=True)
    if phase == "Successful":
        return True
    if phase == "Inconclusive":
        reasons = "; ".join(sorted({r.reason for r in results if r.phase != "Successful"}))
        t.progress["hold"] = {"reason": "analysis inconclusive", "step": t.d.step_index}
        t.move(
            "paused",
            f"analysis inconclusive ({reasons}); promote to go on or abort: platform deploy "
            f"promote|abort --env {t.d.environment} {t.d.service}",
        )
        return False
    t.save(message=f"analysis {n}/{rule.count}: {result.phase} — {result.reason}")
    return False


def _preview(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    since = parse_time(s.get("startedAt")) or t.now
    if not t.ensure_ready(t.replicas, since):
        return False
    t.route(0)
    return True


def _switch(t: Tick, step: Mapping[str, Any], s: dict[str, Any]) -> bool:
    since = parse_time(s.get("startedAt")) or t.now
    if not t.ensure_ready(t.replicas, since):
        return False
    t.route(100)
    return True


_HANDLERS: dict[str, Callable[[Tick, Mapping[str, Any], dict[str, Any]], bool]] = {
    "rollingUpdate": _rolling_update,
    "setWeight": _set_weight,
    "pause": _pause,
    "analysis": _analysis,
    "preview": _preview,
    "switch": _switch,
}
