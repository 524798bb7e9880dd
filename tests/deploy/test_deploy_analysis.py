"""Canary analysis verdicts (goldenpath.deploy.analysis): table-driven, incl. Inconclusive."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from goldenpath.deploy.analysis import (
    AnalysisResult,
    FiguresDelta,
    delta,
    evaluate,
    figures_from_json,
    figures_to_json,
    summarize,
)
from goldenpath.drivers.base import VersionFigures
from goldenpath.workloads import Analysis

RULE = Analysis(min_requests=20)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def win(version: str, requests: int, failures: int = 0, ms: float | None = 5.0) -> FiguresDelta:
    return FiguresDelta(version, requests, failures, ms if requests else None)


@pytest.mark.parametrize(
    ("canary", "stable", "phase", "words"),
    [
        (win("d2", 100), win("d1", 900), "Successful", "error rate 0.0%"),
        (win("d2", 100, 2), win("d1", 900, 9), "Successful", "100 requests"),
        # absolute ceiling (5 %) and increase over stable (2 points)
        (win("d2", 100, 60), win("d1", 900), "Failed", "maxErrorRate"),
        (win("d2", 100, 4), win("d1", 900, 0), "Failed", "maxErrorRateIncrease"),
        (win("d2", 100, 4), win("d1", 900, 18), "Successful", ""),
        # latency: ratio over the stable's, only above the floor
        (win("d2", 100, ms=300.0), win("d1", 900, ms=100.0), "Failed", "maxLatencyRatio"),
        (win("d2", 100, ms=140.0), win("d1", 900, ms=100.0), "Successful", ""),
        (win("d2", 100, ms=3.0), win("d1", 900, ms=1.0), "Successful", ""),
        # not enough to judge: never Successful, never an exception
        (None, win("d1", 900), "Inconclusive", "no router figures"),
        (win("d2", 0), win("d1", 900), "Inconclusive", "no traffic"),
        (win("d2", 5), win("d1", 900), "Inconclusive", "minRequests"),
        (win("d2", 100), None, "Inconclusive", "stable"),
        (win("d2", 100), win("d1", 0), "Inconclusive", "stable"),
        (win("d2", 100, ms=None), win("d1", 900), "Inconclusive", "latency"),
        (None, None, "Inconclusive", ""),
    ],
)
def test_verdicts(
    canary: FiguresDelta | None, stable: FiguresDelta | None, phase: str, words: str
) -> None:
    result = evaluate(canary, stable, RULE)
    assert result.phase == phase, result.reason
    assert words in result.reason
    assert result.to_dict()["figures"]["canary"] == (
        None if canary is None else result.figures["canary"]
    )


def figs(requests: int, r5: int = 0, errors: int = 0, since: datetime = T0) -> VersionFigures:
    return VersionFigures(
        version="d2",
        requests=requests,
        responses={"2xx": requests - r5 - errors, "5xx": r5},
        errors=errors,
        avg_response_ms=4.0,
        since=since,
    )


def test_delta_subtracts_cumulative_counters() -> None:
    d = delta(figs(100, 5, 1), figs(150, 25, 3))
    assert d == FiguresDelta("d2", 50, 22, 4.0)
    assert d.error_rate == pytest.approx(0.44)


def test_delta_from_nothing_counts_from_zero() -> None:
    assert delta(None, figs(10, 1)) == FiguresDelta("d2", 10, 1, 4.0)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (figs(100), None),  # the version vanished from the router
        (figs(100), figs(120, since=datetime(2026, 1, 2, tzinfo=UTC))),  # router reloaded
        (figs(100), figs(20)),  # counters went down
    ],
)
def test_delta_that_cannot_be_judged_is_none(
    before: VersionFigures, after: VersionFigures | None
) -> None:
    assert delta(before, after) is None
    assert evaluate(delta(before, after), win("d1", 100), RULE).phase == "Inconclusive"


def test_snapshots_round_trip_through_json() -> None:
    f = figs(42, 3, 1)
    assert figures_from_json(figures_to_json(f)) == f
    assert figures_from_json(None) is None
    assert figures_from_json({"version": "d1"}) is None


def r(phase: str) -> AnalysisResult:
    return AnalysisResult(phase, phase)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phases", "count", "expected"),
    [
        ([], 3, None),
        (["Successful"], 3, None),
        (["Failed"], 3, "Failed"),  # fail fast on the first failed measurement
        (["Successful", "Inconclusive", "Failed"], 3, "Failed"),
        (["Successful"] * 3, 3, "Successful"),
        (["Successful", "Inconclusive", "Successful"], 3, "Inconclusive"),
        (["Inconclusive"] * 3, 3, "Inconclusive"),
    ],
)
def test_summarize_a_run(phases: list[str], count: int, expected: str | None) -> None:
    assert summarize([r(p) for p in phases], count) == expected
