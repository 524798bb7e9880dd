"""Prometheus gauges of the insights domain, computed at scrape time (cached briefly).

Registered on the app's own registry by :func:`register_insights_gauges` (called once by the
app factory); every scrape of ``/metrics`` then also yields:

- ``goldenpath_dora_deployment_frequency_per_day{scope}`` — successful production
  deployments per day over the last :data:`WINDOW_DAYS` days,
- ``goldenpath_dora_lead_time_seconds{scope}`` — median lead time for changes (seconds),
- ``goldenpath_dora_change_failure_rate{scope}`` — 0..1,
- ``goldenpath_dora_time_to_restore_seconds{scope}`` — median failed deployment recovery time,
- ``goldenpath_incidents_open`` — incidents not yet resolved (counted up to 1,000),
- ``goldenpath_scorecard_entities{scorecard,level}`` — entities holding each level (``none``
  = no level yet).

``scope`` is ``organisation`` (org-wide only: label cardinality stays fixed). A metric whose
value is undefined (no deployments in the window → no median) is left out of the scrape rather
than reported as 0. The values are recomputed at most every ``ttl`` seconds (default
:data:`TTL_SECONDS`) so a 15-second scrape interval costs one DORA report and one scorecard
summary per minute; a failure yields no samples (logged), never a failed scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from goldenpath.api.routes._insights_summaries import scorecard_overview

__all__ = ["TTL_SECONDS", "WINDOW_DAYS", "InsightsGauges", "register_insights_gauges"]

_log = logging.getLogger(__name__)

#: the DORA window of the gauges, days
WINDOW_DAYS = 30
#: seconds a computed set of samples is reused
TTL_SECONDS = 60.0

_DORA = (
    (
        "goldenpath_dora_deployment_frequency_per_day",
        "Successful production deployments per day (DORA deployment frequency, last 30 days)",
        ("deploymentFrequency", "perDay"),
    ),
    (
        "goldenpath_dora_lead_time_seconds",
        "Median lead time for changes in seconds (commit to production, last 30 days)",
        ("leadTimeForChanges", "medianSeconds"),
    ),
    (
        "goldenpath_dora_change_failure_rate",
        "Share of production deployments that failed or caused a rollback, hotfix or incident",
        ("changeFailureRate", "rate"),
    ),
    (
        "goldenpath_dora_time_to_restore_seconds",
        "Median failed deployment recovery time in seconds (last 30 days)",
        ("timeToRestore", "medianSeconds"),
    ),
)


def _families() -> dict[str, GaugeMetricFamily]:
    families = {
        name: GaugeMetricFamily(name, help_text, labels=["scope"]) for name, help_text, _ in _DORA
    }
    families["goldenpath_incidents_open"] = GaugeMetricFamily(
        "goldenpath_incidents_open", "Incidents not yet resolved"
    )
    families["goldenpath_scorecard_entities"] = GaugeMetricFamily(
        "goldenpath_scorecard_entities",
        "Entities holding each scorecard level (level 'none': below the first level)",
        labels=["scorecard", "level"],
    )
    return families


def _dig(document: Mapping[str, Any], path: tuple[str, str]) -> float | None:
    value = (document.get(path[0]) or {}).get(path[1])
    return None if value is None else float(value)


class InsightsGauges(Collector):
    """The collector; ``insights`` is the app's ``InsightsService`` (duck-typed: ``dora``,
    ``list_incidents``, ``scorecards``), ``clock`` a monotonic clock in seconds."""

    def __init__(
        self,
        insights: Any,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._insights = insights
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[tuple[str, tuple[str, ...], float]]] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The metric names without computing anything (used at registration)."""
        return list(_families().values())

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The families with the (possibly cached) samples."""
        families = _families()
        for name, labels, value in self._samples():
            families[name].add_metric(list(labels), value)
        return list(families.values())

    def _samples(self) -> list[tuple[str, tuple[str, ...], float]]:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._ttl:
                return self._cached[1]
            samples: list[tuple[str, tuple[str, ...], float]] = []
            for part in (self._dora, self._incidents, self._scorecards):
                try:
                    samples.extend(part())
                except Exception:  # a scrape must not fail because one source is busy
                    _log.warning("insights gauges: %s unavailable", part.__name__, exc_info=True)
            self._cached = (now, samples)
            return samples

    def _dora(self) -> list[tuple[str, tuple[str, ...], float]]:
        report = self._insights.dora(window_days=WINDOW_DAYS).to_dict()
        scope = ("organisation",)
        found = [(name, scope, _dig(report, path)) for name, _, path in _DORA]
        return [(name, labels, value) for name, labels, value in found if value is not None]

    def _incidents(self) -> list[tuple[str, tuple[str, ...], float]]:
        open_ = self._insights.list_incidents(state="open", limit=1000)
        return [("goldenpath_incidents_open", (), float(len(open_)))]

    def _scorecards(self) -> list[tuple[str, tuple[str, ...], float]]:
        samples: list[tuple[str, tuple[str, ...], float]] = []
        for summary in scorecard_overview(self._insights.scorecards)[0]:
            name = str(summary.get("scorecard"))
            for level, count in (summary.get("levels") or {}).items():
                samples.append(("goldenpath_scorecard_entities", (name, str(level)), float(count)))
            samples.append(
                ("goldenpath_scorecard_entities", (name, "none"), float(summary.get("none", 0)))
            )
        return samples


def register_insights_gauges(registry: CollectorRegistry, insights: Any) -> InsightsGauges:
    """Register the insights collector on ``registry`` (the app's) and return it."""
    collector = InsightsGauges(insights)
    registry.register(collector)
    return collector
