"""Rollout plans (goldenpath.deploy.strategies): workload + strategy → Argo Rollouts steps."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from goldenpath.deploy.strategies import (
    analysis_from_step,
    analysis_to_step,
    describe_step,
    plan_steps,
    step_kind,
)
from goldenpath.errors import InvalidInput
from goldenpath.workloads import Analysis, CanaryStep, Workload, parse_workload

BASE = """
kind: Service
metadata: {name: demo}
spec:
  language: python
  run: {command: [python, app.py]}
"""


def workload(deployment: str = "") -> Workload:
    text = BASE + (f"  deployment:\n{deployment}" if deployment else "")
    return parse_workload(text, source="demo/platform.yaml")


DEFAULT_ANALYSIS = analysis_to_step(Analysis())


@pytest.mark.parametrize(
    ("deployment", "strategy", "canary", "expected"),
    [
        ("", "rolling", None, [{"rollingUpdate": {"maxSurge": 1}}]),
        ("    maxSurge: 3\n", "rolling", None, [{"rollingUpdate": {"maxSurge": 3}}]),
        # --canary on a workload with no steps: the default plan, first weight from the flag
        (
            "",
            "canary",
            10,
            [
                {"setWeight": 10},
                DEFAULT_ANALYSIS,
                {"setWeight": 50},
                DEFAULT_ANALYSIS,
                {"setWeight": 100},
            ],
        ),
        ("", "canary", 60, [{"setWeight": 60}, DEFAULT_ANALYSIS, {"setWeight": 100}]),
        # the workload's own steps; --canary replaces only the first weight
        (
            "    strategy: canary\n    steps:\n      - setWeight: 20\n      - pause: {}\n"
            "      - pause: 30s\n      - analysis: {interval: 2s, count: 4}\n"
            "      - setWeight: 70\n",
            "canary",
            5,
            [
                {"setWeight": 5},
                {"pause": {}},
                {"pause": {"duration": 30.0}},
                analysis_to_step(Analysis(interval=2.0, count=4)),
                {"setWeight": 70},
            ],
        ),
        ("", "blue-green", None, [{"preview": {}}, {"switch": {}}]),
        (
            "    strategy: blue-green\n    canary: true\n    steps:\n"
            "      - setWeight: 20\n      - pause: {}\n",
            "blue-green",
            None,
            [{"preview": {}}, {"pause": {}}, {"switch": {}}],
        ),
    ],
)
def test_plans_are_argo_rollouts_steps(
    deployment: str, strategy: str, canary: int | None, expected: list[dict[str, object]]
) -> None:
    plan = plan_steps(workload(deployment), strategy=strategy, canary_weight=canary)
    assert list(plan) == expected
    assert json.loads(json.dumps(plan)) == expected  # stored as JSON on the record


def test_steps_that_never_set_a_weight_start_with_one() -> None:
    base = workload()
    policy = dataclasses.replace(base.deployment, steps=(CanaryStep(pause=math.inf),))
    plan = plan_steps(dataclasses.replace(base, deployment=policy), strategy="canary")
    assert plan == ({"setWeight": 10}, {"pause": {}})


@pytest.mark.parametrize("weight", [0, 101, -5])
def test_canary_weight_outside_1_to_100_is_refused(weight: int) -> None:
    with pytest.raises(InvalidInput, match=r"1\.\.100"):
        plan_steps(workload(), strategy="canary", canary_weight=weight)


def test_unknown_strategy_names_the_choices() -> None:
    with pytest.raises(InvalidInput, match="rolling, canary or blue-green"):
        plan_steps(workload(), strategy="recreate")


def test_analysis_round_trips_and_fills_defaults() -> None:
    rule = Analysis(interval=1.5, count=2, max_error_rate=0.2, min_requests=5)
    assert analysis_from_step(analysis_to_step(rule)) == rule
    assert analysis_from_step({"analysis": {}}) == Analysis()
    with pytest.raises(InvalidInput, match="interval"):
        analysis_from_step({"analysis": {"interval": "soon"}})


@pytest.mark.parametrize(
    ("step", "text"),
    [
        ({"setWeight": 10}, "setWeight 10%"),
        ({"pause": {}}, "pause until promoted"),
        ({"pause": {"duration": 30}}, "pause 30 s"),
        ({"analysis": {"interval": 5, "count": 3}}, "analysis (3 x 5 s)"),
        ({"rollingUpdate": {"maxSurge": 2}}, "rolling update (maxSurge 2)"),
        ({"switch": {}}, "switch"),
    ],
)
def test_steps_are_described_for_people(step: dict[str, object], text: str) -> None:
    assert describe_step(step) == text


def test_unknown_step_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown rollout step"):
        step_kind({"scale": 3})
