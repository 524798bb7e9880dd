"""The DORA four keys + rework rate against values worked out by hand (issue 8).

Times are hours after Monday 2026-11-02 00:00 UTC unless said otherwise. The last test
replays a generated history (benchmarks/_dora_history.py) and checks the vectorised report
against a plain-Python reading of the same definitions.
"""

from __future__ import annotations

import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from goldenpath.errors import InvalidInput
from goldenpath.insights.dora import (
    DeployEvent,
    EventLog,
    IncidentEvent,
    classify_change_failure,
    classify_frequency,
    classify_lead_time,
    classify_restore,
    dora_report,
    overall_level,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _dora_history import generate_history

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
HOUR = 3600
DAY = 86_400


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ev(
    deployment_id: str,
    hours: float,
    *,
    lead_h: float | None = None,
    service: str = "svc",
    environment: str = "production",
    ok: bool = True,
    kind: str = "deploy",
    sha: str | None = None,
    rollback_of: str | None = None,
) -> DeployEvent:
    return DeployEvent(
        deployment_id=deployment_id,
        service=service,
        environment=environment,
        finished_at=at(hours),
        committed_at=None if lead_h is None else at(hours - lead_h),
        sha=sha,
        succeeded=ok,
        kind=kind,
        rollback_of=rollback_of,
    )


def report(
    events: list[DeployEvent],
    incidents: list[IncidentEvent] | None = None,
    *,
    days: float = 7,
    start: datetime = T0,
    **kw: Any,
) -> dict[str, Any]:
    log = EventLog.from_events(events)
    result = dora_report(log, incidents or [], start=start, end=start + timedelta(days=days), **kw)
    return result.to_dict()


def test_lead_time_is_the_median_for_odd_and_even_counts() -> None:
    odd = report([ev("a", 10, lead_h=1), ev("b", 20, lead_h=5), ev("c", 30, lead_h=2)])
    assert odd["leadTimeForChanges"] == {"medianSeconds": 2 * HOUR, "samples": 3, "level": "elite"}
    even = report([ev(f"d{i}", 10 + i, lead_h=h) for i, h in enumerate([1, 2, 3, 10])])
    assert even["leadTimeForChanges"]["medianSeconds"] == 2.5 * HOUR
    assert even["leadTimeForChanges"]["samples"] == 4


def test_deployments_without_commit_time_count_as_deployments_but_not_lead_time() -> None:
    r = report([ev("a", 10, lead_h=1), ev("b", 20), ev("c", 30, lead_h=3)])
    assert r["deploymentFrequency"]["count"] == 3
    assert r["leadTimeForChanges"]["samples"] == 2
    assert r["leadTimeForChanges"]["medianSeconds"] == 2 * HOUR


def test_negative_lead_time_from_clock_skew_is_dropped() -> None:
    skewed = ev("b", 20, lead_h=-0.25)  # committed 15 min after it was deployed
    r = report([ev("a", 10, lead_h=4), skewed, ev("c", 30, lead_h=6)])
    assert r["leadTimeForChanges"]["samples"] == 2
    assert r["leadTimeForChanges"]["medianSeconds"] == 5 * HOUR
    assert r["deploymentFrequency"]["count"] == 3


def test_frequency_counts_successful_deployments_of_every_kind_per_day_and_week() -> None:
    events = [
        ev("a", 1),
        ev("b", 2, ok=False),
        ev("c", 3, kind="hotfix"),
        ev("d", 4, kind="rollback", rollback_of="c"),
        ev("e", 5, kind="redeploy"),
        ev("s", 6, environment="staging"),
    ]
    f = report(events, days=14)["deploymentFrequency"]
    assert f == {"count": 4, "perDay": round(4 / 14, 6), "perWeek": 2.0, "level": "high"}


def test_weekly_buckets_are_iso_weeks_split_at_monday_midnight_utc() -> None:
    start = datetime(2026, 11, 4, tzinfo=UTC)  # a Wednesday
    events = [
        ev("before", 24),  # Tue 3 Nov: before the window
        ev("sun", 7 * 24 - 1 / 3600, lead_h=1),  # Sun 8 Nov 23:59:59
        ev("mon", 7 * 24, lead_h=3),  # Mon 9 Nov 00:00:00
        ev("mon2", 7 * 24 + 1, lead_h=5, ok=False),
        ev("next", 14 * 24 + 10, kind="hotfix"),  # Mon 16 Nov 10:00
    ]
    weekly = report(events, start=start, days=14)["weekly"]
    assert [w["weekStart"] for w in weekly] == [
        "2026-11-02T00:00:00Z",
        "2026-11-09T00:00:00Z",
        "2026-11-16T00:00:00Z",
    ]
    assert [w["deployments"] for w in weekly] == [1, 1, 1]
    assert [w["leadTimeMedianSeconds"] for w in weekly] == [HOUR, 3 * HOUR, None]
    # "mon2" failed (did not succeed) and the one before "next" (mon2) is hotfixed anyway
    assert [w["changeFailureRate"] for w in weekly] == [0.0, 0.5, 0.0]
    assert [w["reworkRate"] for w in weekly] == [0.0, 0.0, 1.0]
    # mon2 failed at Mon 9 01:00, restored by the hotfix on Mon 16 10:00
    assert weekly[1]["timeToRestoreMedianSeconds"] == (7 * 24 + 9) * HOUR


def test_no_deployments_gives_zero_counts_and_no_medians_or_levels() -> None:
    for events in ([], [ev("s", 5, environment="staging", lead_h=1)]):
        r = report(events)
        assert r["deploymentFrequency"] == {
            "count": 0,
            "perDay": 0.0,
            "perWeek": 0.0,
            "level": None,
        }
        assert r["leadTimeForChanges"] == {"medianSeconds": None, "samples": 0, "level": None}
        assert r["changeFailureRate"] == {"failed": 0, "total": 0, "rate": None, "level": None}
        assert r["timeToRestore"] == {"medianSeconds": None, "samples": 0, "level": None}
        assert r["reworkRate"] == {"rework": 0, "total": 0, "rate": None}
        assert r["level"] is None
        assert r["weekly"] == [
            {
                "weekStart": "2026-11-02T00:00:00Z",
                "deployments": 0,
                "leadTimeMedianSeconds": None,
                "changeFailureRate": None,
                "timeToRestoreMedianSeconds": None,
                "reworkRate": None,
            }
        ]


def test_rollback_marks_the_deployment_it_undid_as_failed() -> None:
    events = [
        ev("a", 1, sha="s1"),
        ev("b", 5, sha="s2"),
        ev("r", 7, kind="rollback", sha="s1", rollback_of="b"),
    ]
    r = report(events)
    assert r["changeFailureRate"] == {"failed": 1, "total": 3, "rate": 0.333333, "level": "low"}
    assert r["reworkRate"] == {"rework": 1, "total": 3, "rate": 0.333333}
    # b went out at 05:00 and the rollback restored service at 07:00
    assert r["timeToRestore"] == {"medianSeconds": 2 * HOUR, "samples": 1, "level": "high"}


def test_the_deployment_before_a_hotfix_failed_and_the_hotfix_restored_it() -> None:
    events = [
        ev("a", 1),
        ev("b", 2, service="other"),
        ev("h", 4, kind="hotfix"),
        ev("z", 0.5, service="zz", kind="hotfix"),  # first of its service: blames nothing
    ]
    r = report(events)
    assert r["changeFailureRate"]["failed"] == 1  # a
    assert r["timeToRestore"]["medianSeconds"] == 3 * HOUR
    assert r["reworkRate"] == {"rework": 2, "total": 4, "rate": 0.5}


def test_incident_linked_by_sha_blames_the_first_deployment_of_that_commit() -> None:
    week2 = 7 * 24
    events = [
        ev("a", 1, sha="s1"),
        ev("a2", week2 + 2, sha="s1", kind="redeploy"),
        ev("b", week2 + 3, sha="s2"),
        ev("x", 1, sha="s1", service="other"),  # same commit, another service
        ev("late", week2 + 9, sha="s3"),
    ]
    incidents = [
        IncidentEvent("i1", "svc", at(week2 + 4), at(week2 + 4.5), sha="s1"),
        IncidentEvent("i2", "svc", at(week2 + 5), None, sha="s3"),  # s3 deployed after it
    ]
    r = report(events, incidents, days=14)
    assert r["changeFailureRate"]["failed"] == 1  # a only: not a2, not x, not late
    assert r["changeFailureRate"]["total"] == 5
    assert [w["changeFailureRate"] for w in r["weekly"]] == [0.5, 0.0]
    # a's failure is measured by its incident (30 min), not by the next deployment
    assert r["timeToRestore"] == {"medianSeconds": 1800.0, "samples": 1, "level": "elite"}


def test_time_to_restore_from_an_incident_and_from_a_failed_deployment() -> None:
    events = [
        ev("a", 1),
        ev("f", 10, ok=False),
        ev("g", 11, ok=False),
        ev("s", 12),
        ev("broken", 20, ok=False),  # never followed by a success: skipped
        ev("other", 25, service="zz"),  # a success of another service restores nothing
    ]
    incidents = [
        IncidentEvent("i1", "svc", at(2), at(2.5), deployment_id="a"),
        IncidentEvent("open", "svc", at(3)),  # unresolved: skipped
        IncidentEvent("i2", None, at(30), at(36)),  # no root cause, no service
    ]
    ttr = report(events, incidents)["timeToRestore"]
    # samples: i1 30 min, f 2 h (restored by s), g 1 h, i2 6 h → median of 4 = 1.5 h
    assert ttr == {"medianSeconds": 1.5 * HOUR, "samples": 4, "level": "high"}


def test_window_includes_its_start_and_excludes_its_end() -> None:
    events = [ev("start", 0, lead_h=1), ev("end", 7 * 24, lead_h=1), ev("before", -1)]
    r = report(events)
    assert r["deploymentFrequency"]["count"] == 1
    assert r["window"] == {
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-09T00:00:00Z",
        "days": 7.0,
    }


def test_services_filter_limits_deployments_and_incidents() -> None:
    events = [
        ev("a1", 1, service="a", lead_h=1),
        ev("a2", 2, service="a", ok=False),
        ev("a3", 3, service="a"),
        ev("b1", 1, service="b", lead_h=9),
        ev("b2", 2, service="b"),
    ]
    incidents = [
        IncidentEvent("ib", "b", at(3), at(8), deployment_id="b2"),
        IncidentEvent("ia", "a", at(5), at(5.25)),
    ]
    r = report(events, incidents, services=["a", "unknown"], scope="team:x")
    assert r["scope"] == "team:x"
    assert r["deploymentFrequency"]["count"] == 2
    assert r["leadTimeForChanges"]["medianSeconds"] == HOUR
    assert r["changeFailureRate"]["failed"] == 1
    assert r["changeFailureRate"]["total"] == 3
    # a2 restored by a3 (1 h) and incident ia (15 min)
    assert r["timeToRestore"]["samples"] == 2
    assert r["timeToRestore"]["medianSeconds"] == (HOUR + 900) / 2
    assert report(events, incidents, services=[])["deploymentFrequency"]["count"] == 0


@pytest.mark.parametrize(
    ("fn", "value", "level"),
    [
        (classify_frequency, 1.0, "elite"),
        (classify_frequency, 0.99, "high"),
        (classify_frequency, 1 / 7, "high"),
        (classify_frequency, 1 / 7.01, "medium"),
        (classify_frequency, 1 / 30, "medium"),
        (classify_frequency, 1 / 30.01, "low"),
        (classify_frequency, 0.0, "low"),
        (classify_lead_time, DAY - 1, "elite"),
        (classify_lead_time, DAY, "high"),
        (classify_lead_time, 7 * DAY, "high"),
        (classify_lead_time, 7 * DAY + 1, "medium"),
        (classify_lead_time, 30 * DAY, "medium"),
        (classify_lead_time, 30 * DAY + 1, "low"),
        (classify_change_failure, 0.0, "elite"),
        (classify_change_failure, 0.05, "elite"),
        (classify_change_failure, 0.0501, "high"),
        (classify_change_failure, 0.10, "high"),
        (classify_change_failure, 0.15, "medium"),
        (classify_change_failure, 0.1501, "low"),
        (classify_restore, HOUR - 1, "elite"),
        (classify_restore, HOUR, "high"),
        (classify_restore, DAY - 1, "high"),
        (classify_restore, DAY, "medium"),
        (classify_restore, 7 * DAY, "medium"),
        (classify_restore, 7 * DAY + 1, "low"),
        (classify_restore, None, None),
    ],
)
def test_level_thresholds_at_their_edges(fn: Any, value: float | None, level: str | None) -> None:
    assert fn(value) == level


def test_overall_level_is_the_weakest_key_with_data() -> None:
    assert overall_level(["elite", "high", None, "elite"]) == "high"
    assert overall_level(["elite", "low", "medium", "high"]) == "low"
    assert overall_level([None, None]) is None
    r = report([ev("a", 1, lead_h=10 * 24), ev("b", 2, lead_h=1)], days=7)
    # frequency 2/7 a day → high; lead time median 5 days + 30 min → high; cfr 0 → elite
    assert (r["deploymentFrequency"]["level"], r["changeFailureRate"]["level"]) == ("high", "elite")
    assert r["level"] == "high"


def test_extend_accepts_older_events_and_rejects_duplicate_ids() -> None:
    events = [ev("a", 1, lead_h=1), ev("b", 5, ok=False), ev("c", 3), ev("d", 9)]
    log = EventLog.from_events(events[2:])
    first = dora_report(log, [], start=T0, end=at(24))
    assert first.change_failure_rate.failed == 0
    log.extend(events[:2])  # older events arrive later
    assert len(log) == 4
    later = dora_report(log, [], start=T0, end=at(24)).to_dict()
    assert later == report(events, days=1)
    assert later["changeFailureRate"]["failed"] == 1
    assert later["timeToRestore"]["medianSeconds"] == 4 * HOUR  # b at 5 h, d at 9 h
    with pytest.raises(InvalidInput, match="'a' occurs twice"):
        log.extend([ev("z", 2), ev("a", 2)])
    assert len(log) == 4


def test_naive_datetimes_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        DeployEvent("a", "svc", "production", datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="kind 'canary'"):
        DeployEvent("a", "svc", "production", T0, kind="canary")
    with pytest.raises(InvalidInput, match="time zone"):
        IncidentEvent("i", None, datetime(2026, 1, 1))
    with pytest.raises(InvalidInput, match="must be after"):
        dora_report(EventLog(), [], start=T0, end=T0)


def _reference(
    events: list[DeployEvent],
    incidents: list[IncidentEvent],
    start: datetime,
    end: datetime,
    services: set[str] | None,
) -> dict[str, Any]:
    """The definitions of goldenpath.insights.dora, one event at a time."""
    arrival = {e.deployment_id: n for n, e in enumerate(events)}
    prod = [e for e in events if e.environment == "production"]
    by_service: dict[str, list[DeployEvent]] = {}
    for e in sorted(prod, key=lambda e: (e.finished_at, arrival[e.deployment_id])):
        by_service.setdefault(e.service, []).append(e)
    following: dict[str, list[DeployEvent]] = {}
    for seq in by_service.values():
        for n, e in enumerate(seq):
            following[e.deployment_id] = seq[n + 1 :]
    ids = {e.deployment_id: e for e in events}
    undone = {e.rollback_of for e in events if e.kind == "rollback"}
    linked: list[DeployEvent | None] = []
    for inc in incidents:
        hit = ids.get(inc.deployment_id or "")
        if hit is None and inc.sha:
            cands = [
                e
                for e in prod
                if e.sha == inc.sha
                and (inc.service is None or e.service == inc.service)
                and e.finished_at <= inc.opened_at
            ]
            hit = min(cands, key=lambda e: (e.finished_at, arrival[e.deployment_id]), default=None)
        linked.append(hit)
    blamed = {e.deployment_id for e in linked if e is not None}

    def scoped(e: DeployEvent) -> bool:
        return e.environment == "production" and (services is None or e.service in services)

    window = [e for e in prod if scoped(e) and start <= e.finished_at < end]

    def failed(e: DeployEvent) -> bool:
        nxt = following[e.deployment_id]
        hotfixed = bool(nxt) and nxt[0].kind == "hotfix"
        return not e.succeeded or e.deployment_id in undone or hotfixed or e.deployment_id in blamed

    leads = [
        (e.finished_at - e.committed_at).total_seconds()
        for e in window
        if e.succeeded and e.committed_at is not None and e.committed_at <= e.finished_at
    ]
    restores = []
    for e in window:
        if failed(e) and e.deployment_id not in blamed:
            ok = [n for n in following[e.deployment_id] if n.succeeded]
            if ok:
                restores.append((ok[0].finished_at - e.finished_at).total_seconds())
    for inc, hit in zip(incidents, linked, strict=True):
        in_scope = scoped(hit) if hit is not None else services is None or inc.service in services
        if in_scope and inc.resolved_at is not None and start <= inc.opened_at < end:
            restores.append((inc.resolved_at - inc.opened_at).total_seconds())
    return {
        "count": sum(e.succeeded for e in window),
        "lead": (statistics.median(leads) if leads else None, len(leads)),
        "failed": (sum(failed(e) for e in window), len(window)),
        "restore": (statistics.median(restores) if restores else None, len(restores)),
        "rework": sum(e.kind in ("rollback", "hotfix") for e in window),
    }


@pytest.mark.parametrize("team", [False, True])
def test_a_generated_history_matches_a_plain_python_reading(team: bool) -> None:
    history = generate_history(services=12, events=3000, days=60, seed=11)
    start = history.start + timedelta(days=10)
    services = set(history.services[:4]) if team else None
    log = EventLog.from_events(history.events)
    got = dora_report(
        log, history.incidents, start=start, end=history.end, services=services
    ).to_dict()
    want = _reference(history.events, history.incidents, start, history.end, services)
    assert got["deploymentFrequency"]["count"] == want["count"] > 0
    lead = got["leadTimeForChanges"]
    assert (lead["medianSeconds"], lead["samples"]) == want["lead"]
    cfr = got["changeFailureRate"]
    assert (cfr["failed"], cfr["total"]) == want["failed"]
    assert want["failed"][0] > 0
    ttr = got["timeToRestore"]
    assert (ttr["medianSeconds"], ttr["samples"]) == want["restore"]
    assert got["reworkRate"]["rework"] == want["rework"] > 0
    assert sum(w["deployments"] for w in got["weekly"]) == want["count"]


def test_a_log_spanning_centuries_still_orders_each_service_by_time() -> None:
    ancient = DeployEvent("old", "museum", "production", datetime(800, 1, 1, tzinfo=UTC))
    events = [ev("h", 4, kind="hotfix"), ancient, ev("a", 1)]
    r = report(events)
    assert r["changeFailureRate"] == {"failed": 1, "total": 2, "rate": 0.5, "level": "low"}
    assert r["timeToRestore"]["medianSeconds"] == 3 * HOUR
