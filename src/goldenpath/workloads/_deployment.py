"""``spec.deployment``: strategy, rollback and Argo Rollouts-style canary steps."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from goldenpath.workloads._check import (
    Ctx,
    boolean,
    describe,
    duration,
    integer,
    mapping,
    number,
    string,
)
from goldenpath.workloads._yaml import Path_
from goldenpath.workloads.model import Analysis, CanaryStep, DeploymentPolicy

__all__ = ["DEFAULT_CANARY_WEIGHT", "check_steps", "default_canary_steps", "parse_deployment"]

DEFAULT_CANARY_WEIGHT = 10
STRATEGIES = ("rolling", "canary", "blue-green")
ROLLBACKS = ("automatic", "manual")
_KEYS = ("strategy", "canary", "rollback", "steps", "maxSurge", "progressDeadline")
_STEP_KEYS = ("setWeight", "pause", "analysis")
_ANALYSIS_KEYS = (
    "interval",
    "count",
    "maxErrorRate",
    "maxErrorRateIncrease",
    "maxLatencyRatio",
    "minRequests",
)


def default_canary_steps(weight: int = DEFAULT_CANARY_WEIGHT) -> tuple[CanaryStep, ...]:
    """The steps used when a canary has none: ``setWeight weight``, analysis, ``setWeight
    50``, analysis; promotion to 100 % follows the last step. A weight of 50 or more skips
    the 50 % stage.

    Raises:
        ValueError: ``weight`` outside 1..100.
    """
    if not 1 <= weight <= 100:
        raise ValueError(f"canary weight {weight} is outside 1..100")
    steps = [CanaryStep(set_weight=weight), CanaryStep(analysis=Analysis())]
    if weight < 50:
        steps += [CanaryStep(set_weight=50), CanaryStep(analysis=Analysis())]
    return tuple(steps)


def _analysis(ctx: Ctx, raw: Any, path: Path_) -> Analysis:
    if raw is None:
        return Analysis()
    raw = mapping(ctx, raw, path, _ANALYSIS_KEYS)
    out = Analysis()
    if "interval" in raw:
        out = replace(out, interval=duration(ctx, raw["interval"], (*path, "interval")))
    if "count" in raw:
        out = replace(out, count=integer(ctx, raw["count"], (*path, "count"), 1, 1000))
    if "maxErrorRate" in raw:
        rate = number(ctx, raw["maxErrorRate"], (*path, "maxErrorRate"), 0.0, 1.0)
        out = replace(out, max_error_rate=rate)
    if "maxErrorRateIncrease" in raw:
        rate = number(ctx, raw["maxErrorRateIncrease"], (*path, "maxErrorRateIncrease"), 0.0, 1.0)
        out = replace(out, max_error_rate_increase=rate)
    if "maxLatencyRatio" in raw:
        ratio = number(ctx, raw["maxLatencyRatio"], (*path, "maxLatencyRatio"), 0.0, open_lo=True)
        out = replace(out, max_latency_ratio=ratio)
    if "minRequests" in raw:
        out = replace(out, min_requests=integer(ctx, raw["minRequests"], (*path, "minRequests"), 0))
    return out


def _pause(ctx: Ctx, raw: Any, path: Path_) -> float:
    """``pause: 30s`` / ``pause: {duration: 30s}`` → seconds; ``pause: {}`` → ``math.inf``."""
    if raw is None:
        return math.inf
    if isinstance(raw, dict):
        raw = mapping(ctx, raw, path, ("duration",))
        if "duration" not in raw:
            return math.inf
        return duration(ctx, raw["duration"], (*path, "duration"), positive=False)
    return duration(ctx, raw, path, positive=False)


def _step(ctx: Ctx, raw: Any, path: Path_) -> CanaryStep:
    raw = mapping(ctx, raw, path, _STEP_KEYS)
    if len(raw) != 1:
        raise ctx.fail(
            path, f"a step has exactly one of {', '.join(_STEP_KEYS)}; got {len(raw)} keys"
        )
    ((key, value),) = raw.items()
    if key == "setWeight":
        return CanaryStep(set_weight=integer(ctx, value, (*path, key), 0, 100))
    if key == "pause":
        return CanaryStep(pause=_pause(ctx, value, (*path, key)))
    return CanaryStep(analysis=_analysis(ctx, value, (*path, key)))


def parse_deployment(ctx: Ctx, raw: Any, path: Path_, base: DeploymentPolicy) -> DeploymentPolicy:
    """Apply a ``deployment`` mapping over ``base`` (missing keys keep base values)."""
    raw = mapping(ctx, raw, path, _KEYS)
    out = base
    if "strategy" in raw:
        strategy: Any = string(ctx, raw["strategy"], (*path, "strategy"), choices=STRATEGIES)
        out = replace(out, strategy=strategy)
    if "canary" in raw:
        out = replace(out, canary=boolean(ctx, raw["canary"], (*path, "canary")))
    if "rollback" in raw:
        rollback: Any = string(ctx, raw["rollback"], (*path, "rollback"), choices=ROLLBACKS)
        out = replace(out, rollback=rollback)
    if "steps" in raw:
        steps = raw["steps"]
        if not isinstance(steps, list):
            raise ctx.fail((*path, "steps"), f"expected a list of steps, got {describe(steps)}")
        out = replace(
            out, steps=tuple(_step(ctx, s, (*path, "steps", i)) for i, s in enumerate(steps))
        )
    if "maxSurge" in raw:
        out = replace(out, max_surge=integer(ctx, raw["maxSurge"], (*path, "maxSurge"), 1, 50))
    if "progressDeadline" in raw:
        deadline = duration(ctx, raw["progressDeadline"], (*path, "progressDeadline"))
        out = replace(out, progress_deadline=deadline)
    return out


def check_steps(ctx: Ctx, policy: DeploymentPolicy, path: Path_) -> DeploymentPolicy:
    """Cross-field rules: a canary strategy implies ``canary: true``; canary-capable policies
    without steps get :func:`default_canary_steps`; steps need a canary; weights never go down
    and at least one step sets a weight."""
    if policy.strategy == "canary" and not policy.canary:
        policy = replace(policy, canary=True)
    if not policy.canary:
        if policy.steps:
            raise ctx.fail(
                (*path, "steps"),
                "steps apply to canary rollouts; set strategy: canary or canary: true",
            )
        return policy
    if not policy.steps:
        return replace(policy, steps=default_canary_steps())
    last = -1
    for i, step in enumerate(policy.steps):
        if step.set_weight is None:
            continue
        if step.set_weight < last:
            raise ctx.fail(
                (*path, "steps", i, "setWeight"),
                f"setWeight {step.set_weight} is below the previous step's {last}; "
                "canary weights only go up (roll back instead)",
            )
        last = step.set_weight
    if last < 0:
        raise ctx.fail((*path, "steps"), "no step sets a weight; add e.g. {setWeight: 10}")
    return policy
