"""Canary analysis: is the new version as healthy as the stable one, on the router's figures?

Pure functions, no IO. The reconciler snapshots :class:`~goldenpath.drivers.base.VersionFigures`
(cumulative router counters) at the start of each measurement window, subtracts it from the
snapshot at the end (:func:`delta`) and asks :func:`evaluate` for a verdict with Argo
Rollouts' phases:

- ``Failed``: the canary's error rate ((5xx + requests with no response) / requests) is above
  ``max_error_rate``, or above the stable version's by more than ``max_error_rate_increase``,
  or its mean latency is more than ``max_latency_ratio`` times the stable's;
- ``Inconclusive``: not enough to judge — no traffic, fewer than ``min_requests`` canary
  requests, no stable figures to compare with, counters reset in the window (router reload),
  latency missing. Never ``Successful`` and never an exception;
- ``Successful``: otherwise.

Latency is compared only above :data:`LATENCY_FLOOR_MS`: a local replica answers in about a
millisecond, and 2 ms against 1 ms is noise, not a regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from goldenpath.drivers.base import VersionFigures
from goldenpath.workloads.model import Analysis

__all__ = [
    "LATENCY_FLOOR_MS",
    "AnalysisPhase",
    "AnalysisResult",
    "FiguresDelta",
    "delta",
    "evaluate",
    "figures_from_json",
    "figures_to_json",
    "summarize",
]

AnalysisPhase = Literal["Successful", "Failed", "Inconclusive"]

#: mean latencies (ms) at or below this are never a latency failure
LATENCY_FLOOR_MS = 25.0


@dataclass(frozen=True)
class FiguresDelta:
    """One version's traffic within a measurement window.

    ``requests`` in the window; ``failures`` 5xx responses plus requests that got no
    response; ``avg_response_ms`` the router's recent mean at the window's end (``None``
    with no traffic).
    """

    version: str
    requests: int
    failures: int
    avg_response_ms: float | None

    @property
    def error_rate(self) -> float | None:
        """``failures / requests`` (0..1), ``None`` with no requests."""
        return self.failures / self.requests if self.requests > 0 else None


@dataclass(frozen=True)
class AnalysisResult:
    """A verdict: ``phase``, one human ``reason``, and the ``figures`` it was based on."""

    phase: AnalysisPhase
    reason: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{phase, reason, figures}`` (JSON-able)."""
        return {"phase": self.phase, "reason": self.reason, "figures": dict(self.figures)}


def _failures(figures: VersionFigures) -> int:
    return int(figures.responses.get("5xx", 0)) + int(figures.errors)


def delta(before: VersionFigures | None, after: VersionFigures | None) -> FiguresDelta | None:
    """Traffic of one version between two snapshots of the router's counters.

    ``before`` ``None`` = the version had no counters yet (counts from zero). Returns
    ``None`` when ``after`` is missing or the counters were reset in between (``since``
    differs, or a counter went down): the window cannot be judged.
    """
    if after is None:
        return None
    if before is None:
        return FiguresDelta(after.version, after.requests, _failures(after), after.avg_response_ms)
    if before.since != after.since:
        return None
    requests = after.requests - before.requests
    failures = _failures(after) - _failures(before)
    if requests < 0 or failures < 0:
        return None
    return FiguresDelta(after.version, requests, failures, after.avg_response_ms)


def _window(d: FiguresDelta | None) -> dict[str, Any] | None:
    if d is None:
        return None
    rate = d.error_rate
    return {
        "version": d.version,
        "requests": d.requests,
        "failures": d.failures,
        "errorRate": None if rate is None else round(rate, 4),
        "avgResponseMs": d.avg_response_ms,
    }


def evaluate(
    canary: FiguresDelta | None, stable: FiguresDelta | None, rule: Analysis
) -> AnalysisResult:
    """Judge one measurement window of ``canary`` against ``stable`` under ``rule``.

    Either side ``None`` (no figures, counters reset) or too little traffic gives
    ``Inconclusive``; see the module docstring for the checks, in order.
    """
    figures = {"canary": _window(canary), "stable": _window(stable)}
    if canary is None:
        return AnalysisResult("Inconclusive", "no router figures for the canary", figures)
    rate = canary.error_rate
    if rate is None:
        return AnalysisResult("Inconclusive", "no traffic reached the canary", figures)
    if canary.requests < rule.min_requests:
        return AnalysisResult(
            "Inconclusive",
            f"only {canary.requests} canary requests (< minRequests {rule.min_requests})",
            figures,
        )
    if rate > rule.max_error_rate:
        return AnalysisResult(
            "Failed",
            f"canary error rate {rate:.1%} ({canary.failures}/{canary.requests}) is above "
            f"maxErrorRate {rule.max_error_rate:.1%}",
            figures,
        )
    stable_rate = stable.error_rate if stable is not None else None
    if stable is None or stable_rate is None:
        return AnalysisResult(
            "Inconclusive", "no stable traffic in the window to compare with", figures
        )
    if rate - stable_rate > rule.max_error_rate_increase:
        return AnalysisResult(
            "Failed",
            f"canary error rate {rate:.1%} is {rate - stable_rate:.1%} above the stable "
            f"version's {stable_rate:.1%} "
            f"(maxErrorRateIncrease {rule.max_error_rate_increase:.1%})",
            figures,
        )
    return _latency(canary, stable, rule, figures)


def _latency(
    canary: FiguresDelta, stable: FiguresDelta, rule: Analysis, figures: dict[str, Any]
) -> AnalysisResult:
    if canary.avg_response_ms is None or stable.avg_response_ms is None:
        return AnalysisResult("Inconclusive", "latency figures are missing", figures)
    if canary.avg_response_ms > LATENCY_FLOOR_MS:
        base = max(stable.avg_response_ms, LATENCY_FLOOR_MS)
        ratio = canary.avg_response_ms / base
        if ratio > rule.max_latency_ratio:
            return AnalysisResult(
                "Failed",
                f"canary mean latency {canary.avg_response_ms:.0f} ms is {ratio:.1f} times the "
                f"stable version's {stable.avg_response_ms:.0f} ms "
                f"(maxLatencyRatio {rule.max_latency_ratio:g})",
                figures,
            )
    return AnalysisResult(
        "Successful",
        f"canary error rate {canary.error_rate or 0:.1%} over {canary.requests} requests, "
        f"latency {canary.avg_response_ms:.0f} ms (stable {stable.avg_response_ms:.0f} ms)",
        figures,
    )


def summarize(results: Sequence[AnalysisResult], count: int) -> AnalysisPhase | None:
    """The phase of a whole analysis run after ``results`` of ``count`` measurements.

    ``Failed`` as soon as one measurement failed (fail fast); ``None`` while measurements are
    still due; then ``Successful`` when every one was, else ``Inconclusive`` (as Argo
    Rollouts with ``inconclusiveLimit: 0``: a person decides — promote or abort).
    """
    if any(r.phase == "Failed" for r in results):
        return "Failed"
    if len(results) < max(1, count):
        return None
    if all(r.phase == "Successful" for r in results):
        return "Successful"
    return "Inconclusive"


def figures_to_json(figures: VersionFigures) -> dict[str, Any]:
    """A JSON-able snapshot of ``figures`` (kept in a deployment's progress)."""
    return {
        "version": figures.version,
        "requests": figures.requests,
        "responses": dict(figures.responses),
        "errors": figures.errors,
        "avgResponseMs": figures.avg_response_ms,
        "since": figures.since.isoformat(),
    }


def figures_from_json(data: Mapping[str, Any] | None) -> VersionFigures | None:
    """Inverse of :func:`figures_to_json`; ``None`` for ``None`` or a malformed snapshot."""
    if not data:
        return None
    try:
        return VersionFigures(
            version=str(data["version"]),
            requests=int(data["requests"]),
            responses={str(k): int(v) for k, v in dict(data.get("responses") or {}).items()},
            errors=int(data.get("errors") or 0),
            avg_response_ms=(
                None if data.get("avgResponseMs") is None else float(data["avgResponseMs"])
            ),
            since=datetime.fromisoformat(str(data["since"])),
        )
    except (KeyError, TypeError, ValueError):
        return None
