"""Rollout plans: a workload and a strategy in, Argo Rollouts steps (JSON) out.

Pure functions, no IO. A plan is fixed on the deployment record when it is created
(``Deployment.steps``); the reconciler runs it step by step (:mod:`goldenpath.deploy._steps`)
and, after the last step, promotes the new version to 100 % and stops the old one.

Step shapes (Argo Rollouts vocabulary, https://argoproj.github.io/argo-rollouts/features/):

- rolling: ``{"rollingUpdate": {"maxSurge": 1}}`` — start the new version's replicas
  ``maxSurge`` at a time, shift traffic as each batch becomes ready; the old version keeps
  all its replicas until the new one serves 100 % (locally a single replica cannot be drained
  through the router, so the old version leaves as a whole, after its connections drained);
- canary: ``{"setWeight": 10}`` (percent of traffic to the new version),
  ``{"pause": {"duration": 30}}`` (seconds) or ``{"pause": {}}`` (until ``platform deploy
  promote``), ``{"analysis": {"interval": 5.0, "count": 3, "maxErrorRate": 0.05,
  "maxErrorRateIncrease": 0.02, "maxLatencyRatio": 1.5, "minRequests": 20}}``;
- blue-green: ``{"preview": {}}`` (the new version runs, fully ready, with no traffic),
  the workload's ``pause`` steps if it declares any (Argo's ``autoPromotionEnabled: false``),
  then ``{"switch": {}}`` (all traffic to the new version at once).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.workloads.model import Analysis, CanaryStep, Workload

__all__ = [
    "DEFAULT_CANARY_WEIGHT",
    "STEP_KINDS",
    "analysis_from_step",
    "analysis_to_step",
    "describe_step",
    "first_plan",
    "plan_steps",
    "step_kind",
]

#: first canary weight when neither ``--canary`` nor the workload's steps give one
DEFAULT_CANARY_WEIGHT = 10
#: every step key a plan may hold
STEP_KINDS = ("rollingUpdate", "setWeight", "pause", "analysis", "preview", "switch")

_ANALYSIS_FIELDS = (
    ("interval", "interval", float),
    ("count", "count", int),
    ("maxErrorRate", "max_error_rate", float),
    ("maxErrorRateIncrease", "max_error_rate_increase", float),
    ("maxLatencyRatio", "max_latency_ratio", float),
    ("minRequests", "min_requests", int),
)


def first_plan(workload: Workload) -> tuple[dict[str, Any], ...]:
    """The plan of a service's first deployment in an environment: a rolling update with
    ``maxSurge`` = every replica, since no version serves traffic that a slower rollout
    would protect (the workload's strategy applies from the second deployment on)."""
    return ({"rollingUpdate": {"maxSurge": max(1, int(workload.runtime.replicas))}},)


def plan_steps(
    workload: Workload, *, strategy: str, canary_weight: int | None = None
) -> tuple[dict[str, Any], ...]:
    """The rollout plan of ``workload`` for ``strategy`` as JSON-able steps.

    Args:
        workload: the workload as deployed (``for_environment`` already applied).
        strategy: ``rolling``, ``canary`` or ``blue-green``.
        canary_weight: ``--canary 10%`` → ``10``: the first ``setWeight`` of a canary plan
            (the workload's own steps, or the default plan, otherwise unchanged).

    Canary plans come from ``workload.deployment.steps``; with none, the default is
    ``setWeight w, analysis, setWeight 50, analysis, setWeight 100`` (the middle pair left out
    when ``w >= 50``). A plan whose steps never set a weight starts with ``setWeight w``.

    Raises:
        InvalidInput: unknown strategy, or ``canary_weight`` outside 1..100.
    """
    if canary_weight is not None and not (
        isinstance(canary_weight, int) and 1 <= canary_weight <= 100
    ):
        raise InvalidInput(
            f"canary weight {canary_weight!r} is not a percentage of traffic: use 1..100, "
            "e.g. --canary 10%",
            details={"field": "canary", "value": canary_weight},
        )
    policy = workload.deployment
    if strategy == "rolling":
        return ({"rollingUpdate": {"maxSurge": max(1, int(policy.max_surge))}},)
    if strategy == "canary":
        return _canary_plan(policy.steps, canary_weight)
    if strategy == "blue-green":
        pauses = [_step_json(s) for s in policy.steps if s.pause is not None]
        return ({"preview": {}}, *pauses, {"switch": {}})
    raise InvalidInput(
        f"unknown deployment strategy {strategy!r}: use rolling, canary or blue-green "
        "(spec.deployment.strategy or --strategy)",
        details={"field": "strategy", "value": strategy},
    )


def _canary_plan(
    steps: tuple[CanaryStep, ...], canary_weight: int | None
) -> tuple[dict[str, Any], ...]:
    if not steps:
        first = canary_weight or DEFAULT_CANARY_WEIGHT
        plan: list[dict[str, Any]] = [{"setWeight": first}, analysis_to_step(Analysis())]
        if first < 50:
            plan += [{"setWeight": 50}, analysis_to_step(Analysis())]
        if first < 100:
            plan.append({"setWeight": 100})
        return tuple(plan)
    plan = [_step_json(s) for s in steps]
    weights = [i for i, s in enumerate(plan) if "setWeight" in s]
    if not weights:
        plan.insert(0, {"setWeight": canary_weight or DEFAULT_CANARY_WEIGHT})
    elif canary_weight is not None:
        plan[weights[0]] = {"setWeight": canary_weight}
    return tuple(plan)


def _step_json(step: CanaryStep) -> dict[str, Any]:
    if step.set_weight is not None:
        return {"setWeight": int(step.set_weight)}
    if step.pause is not None:
        if math.isinf(step.pause):
            return {"pause": {}}
        return {"pause": {"duration": float(step.pause)}}
    return analysis_to_step(step.analysis or Analysis())


def analysis_to_step(rule: Analysis) -> dict[str, Any]:
    """``{"analysis": {interval, count, maxErrorRate, …}}`` for ``rule`` (camelCase JSON)."""
    return {"analysis": {wire: getattr(rule, attr) for wire, attr, _ in _ANALYSIS_FIELDS}}


def analysis_from_step(step: Mapping[str, Any]) -> Analysis:
    """The :class:`Analysis` of an ``{"analysis": {...}}`` step; missing fields take the
    model's defaults. Raises InvalidInput when a value has the wrong type."""
    body = step.get("analysis") or {}
    values: dict[str, Any] = {}
    for wire, attr, kind in _ANALYSIS_FIELDS:
        if wire in body and body[wire] is not None:
            try:
                values[attr] = kind(body[wire])
            except (TypeError, ValueError) as e:
                raise InvalidInput(
                    f"analysis step field {wire!r} must be a number, got {body[wire]!r}"
                ) from e
    return Analysis(**values)


def step_kind(step: Mapping[str, Any]) -> str:
    """Which of :data:`STEP_KINDS` ``step`` is. Raises InvalidInput for anything else."""
    for kind in STEP_KINDS:
        if kind in step:
            return kind
    raise InvalidInput(f"unknown rollout step {dict(step)!r}: use one of {', '.join(STEP_KINDS)}")


def describe_step(step: Mapping[str, Any]) -> str:
    """A short human phrase for ``step``: ``setWeight 10%``, ``pause 30 s``, ``pause until
    promoted``, ``analysis (3 x 5 s)``, ``rolling update (maxSurge 1)``, ``preview``,
    ``switch``."""
    kind = step_kind(step)
    if kind == "setWeight":
        return f"setWeight {step['setWeight']}%"
    if kind == "pause":
        duration = (step.get("pause") or {}).get("duration")
        return "pause until promoted" if duration is None else f"pause {float(duration):g} s"
    if kind == "analysis":
        rule = analysis_from_step(step)
        return f"analysis ({rule.count} x {rule.interval:g} s)"
    if kind == "rollingUpdate":
        return f"rolling update (maxSurge {(step.get('rollingUpdate') or {}).get('maxSurge', 1)})"
    return kind
