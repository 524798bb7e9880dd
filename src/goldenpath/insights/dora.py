"""The DORA four keys (+ rework rate) over deployment and incident events — pure, numpy.

Follows Google's Four Keys (https://dora.dev/guides/dora-metrics-four-keys/ and
https://github.com/dora-team/fourkeys) and the Accelerate State of DevOps reports
(2024 clusters; the 2025 report's fifth metric, rework rate). No IO: callers (the
insights service) turn deploy records, imported events and incidents into
:class:`DeployEvent` / :class:`IncidentEvent`, keep an :class:`EventLog`, and call
:func:`dora_report`.

Definitions (every count is over deployments to ``environment`` whose ``finished_at`` lies
in the window ``[start, end)`` — start inclusive, end exclusive — of the chosen services):

- **deployment frequency**: successful deployments of every kind — deploy, redeploy,
  hotfix *and rollback*: as in Four Keys, a rollback is a deployment (it changed what runs in
  production); rollbacks are instead counted against stability by the change failure and
  rework rates. ``perDay = count / days``, ``perWeek = 7 * perDay``.
- **lead time for changes**: median of ``finished_at - committed_at`` over successful
  deployments that carry a commit time. Deployments without one are skipped; a negative
  lead time (clock skew, commit after deploy) is dropped, as Four Keys does.
- **change failure rate**: failed / total over all deployment attempts (every kind and
  outcome). A deployment *failed* when it did not succeed, when a later rollback names it
  in ``rollback_of``, when the next deployment of its service (same environment) is a
  hotfix, or when an incident's root cause points at it (``deployment_id``, else ``sha``:
  the earliest deployment of that commit — of the incident's service when it names one —
  finished at or before the incident opened; later redeploys of the same commit are not
  counted again).
- **time to restore** (failed deployment recovery time): median over (a) incidents opened
  in the window and resolved: ``resolved_at - opened_at``, and (b) failed deployments (as
  above) finished in the window that no incident points at: the next successful
  deployment of that service (same environment, any kind) minus ``finished_at``.
  Unresolved incidents and failures not yet followed by a success are skipped. Incidents
  count as incidents of ``environment`` unless their root cause is a deployment elsewhere.
- **rework rate** (DORA 2025): rollbacks + hotfixes over all deployment attempts. We do
  not guess fix-forward deploys from timing (e.g. "within 24 h of a failure"): on a busy
  service that counts unrelated work; a fix shipped as a normal deploy should be marked
  ``hotfix``.
- **levels**: :mod:`goldenpath.insights._dora_levels` (bounds and their sources); the overall
  level is the lowest of the four keys' levels that have data. With no deployment attempts
  in the window the frequency level is None; medians without samples and rates without
  attempts are None and so are their levels.
- **weekly trend**: ISO weeks (Monday 00:00 UTC); the first and last week are clipped by
  the window (the first ``weekStart`` may precede ``start``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from goldenpath.errors import InvalidInput
from goldenpath.insights._dora_incidents import IncidentEvent, LinkedIncidents, link_incidents
from goldenpath.insights._dora_levels import (
    LEVELS,
    Level,
    classify_change_failure,
    classify_frequency,
    classify_lead_time,
    classify_restore,
    overall_level,
)
from goldenpath.insights._dora_log import (
    KINDS,
    NO_TIME,
    DeployEvent,
    EventLog,
    epoch_seconds,
)

__all__ = [
    "LEVELS",
    "ChangeFailureRate",
    "DeployEvent",
    "DeploymentFrequency",
    "DoraReport",
    "EventLog",
    "IncidentEvent",
    "LeadTime",
    "Level",
    "ReworkRate",
    "TimeToRestore",
    "WeeklyPoint",
    "classify_change_failure",
    "classify_frequency",
    "classify_lead_time",
    "classify_restore",
    "dora_report",
    "overall_level",
]

DAY = 86_400
WEEK = 7 * DAY
_ROLLBACK = KINDS.index("rollback")
_HOTFIX = KINDS.index("hotfix")

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
#: (week numbers, values) of a metric's samples
_Samples = tuple[I64, I64]


@dataclass(frozen=True)
class DeploymentFrequency:
    """Successful deployments in the window: ``count``, ``per_day``, ``per_week``, level."""

    count: int
    per_day: float
    per_week: float
    level: Level | None


@dataclass(frozen=True)
class LeadTime:
    """Median commit → successful deploy time in seconds over ``samples`` deployments."""

    median_seconds: float | None
    samples: int
    level: Level | None


@dataclass(frozen=True)
class ChangeFailureRate:
    """``failed`` of ``total`` deployment attempts; ``rate`` = failed / total or None."""

    failed: int
    total: int
    rate: float | None
    level: Level | None


@dataclass(frozen=True)
class TimeToRestore:
    """Median failure → restore time in seconds over ``samples`` failures."""

    median_seconds: float | None
    samples: int
    level: Level | None


@dataclass(frozen=True)
class ReworkRate:
    """``rework`` (rollbacks + hotfixes) of ``total`` attempts; ``rate`` or None."""

    rework: int
    total: int
    rate: float | None


@dataclass(frozen=True)
class WeeklyPoint:
    """One ISO week of the trend (``week_start`` = Monday 00:00 UTC); None = no data."""

    week_start: datetime
    deployments: int
    lead_time_median_seconds: float | None
    change_failure_rate: float | None
    time_to_restore_median_seconds: float | None
    rework_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        """``{weekStart, deployments, leadTimeMedianSeconds, changeFailureRate,
        timeToRestoreMedianSeconds, reworkRate}`` (weekStart ISO-8601 with ``Z``)."""
        return {
            "weekStart": _iso(self.week_start),
            "deployments": self.deployments,
            "leadTimeMedianSeconds": self.lead_time_median_seconds,
            "changeFailureRate": _round(self.change_failure_rate),
            "timeToRestoreMedianSeconds": self.time_to_restore_median_seconds,
            "reworkRate": _round(self.rework_rate),
        }


@dataclass(frozen=True)
class DoraReport:
    """The four keys, rework rate, overall level and weekly trend for one scope/window."""

    scope: str
    start: datetime
    end: datetime
    deployment_frequency: DeploymentFrequency
    lead_time: LeadTime
    change_failure_rate: ChangeFailureRate
    time_to_restore: TimeToRestore
    rework_rate: ReworkRate
    level: Level | None
    weekly: tuple[WeeklyPoint, ...]

    @property
    def days(self) -> float:
        """Window length in days."""
        return (self.end - self.start).total_seconds() / DAY

    def to_dict(self) -> dict[str, Any]:
        """The camelCase wire shape (round 6 contract), times ISO-8601 UTC with ``Z``."""
        f, lt = self.deployment_frequency, self.lead_time
        cfr, ttr, rw = self.change_failure_rate, self.time_to_restore, self.rework_rate
        return {
            "scope": self.scope,
            "window": {"start": _iso(self.start), "end": _iso(self.end), "days": self.days},
            "deploymentFrequency": {
                "count": f.count,
                "perDay": _round(f.per_day),
                "perWeek": _round(f.per_week),
                "level": f.level,
            },
            "leadTimeForChanges": {
                "medianSeconds": lt.median_seconds,
                "samples": lt.samples,
                "level": lt.level,
            },
            "changeFailureRate": {
                "failed": cfr.failed,
                "total": cfr.total,
                "rate": _round(cfr.rate),
                "level": cfr.level,
            },
            "timeToRestore": {
                "medianSeconds": ttr.median_seconds,
                "samples": ttr.samples,
                "level": ttr.level,
            },
            "reworkRate": {"rework": rw.rework, "total": rw.total, "rate": _round(rw.rate)},
            "level": self.level,
            "weekly": [w.to_dict() for w in self.weekly],
        }


def dora_report(
    log: EventLog,
    incidents: Iterable[IncidentEvent],
    *,
    start: datetime,
    end: datetime,
    services: Collection[str] | None = None,
    environment: str = "production",
    scope: str = "organisation",
) -> DoraReport:
    """Compute the DORA report over ``[start, end)`` (definitions: module docstring).

    Args:
        log: every deployment event known (all environments, all time: neighbours outside
            the window still decide whether a deployment in it failed and when it was
            restored).
        incidents: incidents (any time; those opened in the window give restore samples).
        start / end: aware datetimes, ``start < end``.
        services: service names in scope; None = every service (organisation).
        environment: the production environment's name.
        scope: a label echoed in the report (``organisation``, ``service:x``, ``team:y``…).

    Raises:
        InvalidInput: naive datetimes or ``end <= start``.
    """
    t0 = epoch_seconds(start, "start")
    t1 = epoch_seconds(end, "end")
    if t1 <= t0:
        raise InvalidInput(f"end {_iso(end)} must be after start {_iso(start)}")
    env_code = log.environment_code(environment)
    in_scope = _scope_mask(log, services, env_code)
    links = link_incidents(log, incidents, env_code, services)
    sel = np.flatnonzero(in_scope & (log.finished >= t0) & (log.finished < t1))
    week0 = _monday(t0)
    week = ((log.finished[sel] - week0) // WEEK).astype(np.int64)
    w = _Window(t0, t1, week0, -(-(t1 - week0) // WEEK), sel, week)
    frequency, lead, lead_samples = _throughput(log, w)
    cfr, failed, restore, restore_samples = _stability(log, w, links, in_scope)
    is_rework = np.isin(log.kind[sel], (_ROLLBACK, _HOTFIX))
    n_rework = int(is_rework.sum())
    rework = ReworkRate(n_rework, len(sel), n_rework / len(sel) if len(sel) else None)
    return DoraReport(
        scope=scope,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        deployment_frequency=frequency,
        lead_time=lead,
        change_failure_rate=cfr,
        time_to_restore=restore,
        rework_rate=rework,
        level=overall_level([frequency.level, lead.level, cfr.level, restore.level]),
        weekly=_weekly(
            w,
            ok=log.succeeded[sel],
            failed=failed,
            rework=is_rework,
            lead=lead_samples,
            restore=restore_samples,
        ),
    )


@dataclass(frozen=True)
class _Window:
    """``[t0, t1)`` in epoch s; ``week0`` its first Monday; ``sel`` the deployments in it
    (log positions) and ``week`` each one's week number from ``week0``."""

    t0: int
    t1: int
    week0: int
    n_weeks: int
    sel: I64
    week: I64

    @property
    def days(self) -> float:
        return (self.t1 - self.t0) / DAY


def _throughput(log: EventLog, w: _Window) -> tuple[DeploymentFrequency, LeadTime, _Samples]:
    """Deployment frequency and lead time, with the lead-time samples' (weeks, values)."""
    ok = log.succeeded[w.sel]
    count = int(ok.sum())
    frequency = DeploymentFrequency(
        count=count,
        per_day=count / w.days,
        per_week=count / w.days * 7,
        level=classify_frequency(count / w.days) if len(w.sel) else None,
    )
    positions, weeks = w.sel[ok], w.week[ok]
    committed = log.committed[positions]
    values = log.finished[positions] - committed
    keep = (committed != NO_TIME) & (values >= 0)  # no commit time / clock skew: dropped
    values = values[keep]
    median = _median(values)
    return (
        frequency,
        LeadTime(median, len(values), classify_lead_time(median)),
        (
            weeks[keep],
            values,
        ),
    )


def _stability(
    log: EventLog, w: _Window, links: LinkedIncidents, in_scope: Mask
) -> tuple[ChangeFailureRate, Mask, TimeToRestore, _Samples]:
    """Change failure rate (and the failed flag of each deployment in the window) and time
    to restore, with the restore samples' (weeks, values)."""
    ix = log.index()
    caused_incident = np.zeros(len(log), np.bool_)
    caused_incident[links.position[links.position >= 0]] = True
    sel = w.sel
    failed = ~log.succeeded[sel] | ix.rolled_back[sel] | ix.followed_by_hotfix[sel]
    failed |= caused_incident[sel]
    n_failed = int(failed.sum())
    rate = n_failed / len(sel) if len(sel) else None
    cfr = ChangeFailureRate(n_failed, len(sel), rate, classify_change_failure(rate))
    values, at = _restore_samples(log, sel[failed & ~caused_incident[sel]], links, in_scope)
    keep = (at >= w.t0) & (at < w.t1)
    values, weeks = values[keep], (at[keep] - w.week0) // WEEK
    median = _median(values)
    restore = TimeToRestore(median, len(values), classify_restore(median))
    return cfr, failed, restore, (weeks, values)


def _scope_mask(
    log: EventLog, services: Collection[str] | None, env_code: int | None
) -> npt.NDArray[np.bool_]:
    """Events in ``environment`` of the services in scope (whole history)."""
    if env_code is None:
        return np.zeros(len(log), np.bool_)
    mask = log.environment == env_code
    if services is not None:
        allowed = np.zeros(len(log.service_names) + 1, np.bool_)
        codes = [c for c in (log.service_code(s) for s in services) if c is not None]
        allowed[codes] = True
        mask &= allowed[log.service]
    return mask


def _restore_samples(
    log: EventLog, failed_positions: I64, links: LinkedIncidents, in_scope: Mask
) -> tuple[I64, I64]:
    """(durations, failure times) in seconds: failed deployments no incident points at,
    then resolved incidents in scope (see the module docstring)."""
    restored_at = log.index().next_success_at[failed_positions]
    has = restored_at != NO_TIME
    failed_at = log.finished[failed_positions][has]
    linked = links.position >= 0
    # an incident linked to a deployment is in scope with it; np.where reads both branches,
    # so with no deployment at all (nothing linked) the log's side must not be indexed
    from_log = in_scope[np.maximum(links.position, 0)] if len(in_scope) else linked
    scoped = np.where(linked, from_log, links.named_in_scope)
    duration = links.resolved - links.opened
    keep = scoped & (links.resolved != NO_TIME) & (duration >= 0)
    return (
        np.concatenate([restored_at[has] - failed_at, duration[keep]]),
        np.concatenate([failed_at, links.opened[keep]]),
    )


def _weekly(
    w: _Window,
    *,
    ok: Mask,
    failed: Mask,
    rework: Mask,
    lead: _Samples,
    restore: _Samples,
) -> tuple[WeeklyPoint, ...]:
    """One :class:`WeeklyPoint` per ISO week of the window."""
    n_weeks, week = w.n_weeks, w.week
    total = np.bincount(week, minlength=n_weeks)
    deployments = np.bincount(week[ok], minlength=n_weeks)
    failures = np.bincount(week[failed], minlength=n_weeks)
    reworks = np.bincount(week[rework], minlength=n_weeks)
    lead_medians = _grouped_medians(lead[0], lead[1], n_weeks)
    restore_medians = _grouped_medians(restore[0], restore[1], n_weeks)
    first = datetime.fromtimestamp(w.week0, UTC)
    return tuple(
        WeeklyPoint(
            week_start=first + timedelta(weeks=k),
            deployments=int(deployments[k]),
            lead_time_median_seconds=lead_medians[k],
            change_failure_rate=float(failures[k] / total[k]) if total[k] else None,
            time_to_restore_median_seconds=restore_medians[k],
            rework_rate=float(reworks[k] / total[k]) if total[k] else None,
        )
        for k in range(n_weeks)
    )


def _grouped_medians(groups: I64, values: I64, n: int) -> list[float | None]:
    """Median of ``values`` per group 0..n-1 (None for an empty group)."""
    # small ints sort by radix in numpy: int16 keys make this O(n)
    keys = groups.astype(np.int16) if n < 2**15 else groups
    order = np.argsort(keys, kind="stable")
    g, v = groups[order], values[order]
    bounds = np.searchsorted(g, np.arange(n + 1))
    return [_median(v[bounds[k] : bounds[k + 1]]) for k in range(n)]


def _median(values: I64) -> float | None:
    return float(np.median(values)) if len(values) else None


def _monday(t: int) -> int:
    """Epoch seconds of the Monday 00:00 UTC on or before ``t`` (1970-01-01 was a Thursday)."""
    return ((t // DAY) - ((t // DAY) + 3) % 7) * DAY


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
