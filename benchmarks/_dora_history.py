"""A realistic, seeded deployment + incident history for DORA benchmarks and tests.

``generate_history(services=1000, events=1_000_000, days=365, seed=2026)`` returns a
:class:`History` of :class:`~goldenpath.insights.dora.DeployEvent` and
:class:`~goldenpath.insights.dora.IncidentEvent`, shaped like a real organisation:

- deployment rates per service are log-normal (a few services deploy many times a day,
  most a few times a week), times uniform over the window;
- ``production_share`` (70 %) of events go to ``production``, the rest to ``staging``;
- lead times are log-normal (median ~5 h, long tail to weeks); 5 % of deployments carry no
  commit time, 0.5 % have clock skew (commit a few minutes *after* the deploy);
- 4 % of deployments fail; in each service's sequence 2 % are rollbacks of the previous
  deployment (redeploying the commit before it), 2 % hotfixes, 2 % redeploys of the same
  commit; 20 % of events are imported (``source="import"``);
- 1 % of successful production deployments cause an incident (opened 5 min to 6 h later,
  resolved after a log-normal time with a median of ~1 h; 5 % still open) whose root cause
  is the deployment id (60 %), the commit sha (30 %) or unknown (10 %, service only).

Used by ``benchmarks/dora_bench.py``; tests of other helpers may import it (add
``benchmarks/`` to ``sys.path``) with small sizes, e.g. ``generate_history(services=5,
events=500)``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from goldenpath.insights.dora import DeployEvent, IncidentEvent

__all__ = ["History", "generate_history"]

DEFAULT_END = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    """Generated events; ``start``/``end`` bound every deployment's ``finished_at``."""

    events: list[DeployEvent]
    incidents: list[IncidentEvent]
    services: list[str]
    start: datetime
    end: datetime


def generate_history(
    *,
    services: int = 1_000,
    events: int = 1_000_000,
    days: int = 365,
    seed: int = 2026,
    end: datetime = DEFAULT_END,
    production_share: float = 0.7,
) -> History:
    """A seeded history of ``events`` deployments of ``services`` services over ``days``."""
    enabled = gc.isenabled()
    gc.disable()  # millions of acyclic objects: collections would only rescan the heap
    try:
        return _generate(services, events, days, seed, end, production_share)
    finally:
        if enabled:
            gc.enable()


def _generate(
    services: int, events: int, days: int, seed: int, end: datetime, production_share: float
) -> History:
    rng = np.random.default_rng(seed)
    start = end - timedelta(days=days)
    t0, span = int(start.timestamp()), days * 86_400
    names = [f"svc-{i:04d}" for i in range(services)]
    weights = rng.lognormal(0.0, 1.0, services)
    service = rng.choice(services, size=events, p=weights / weights.sum())
    production = rng.random(events) < production_share
    finished = t0 + rng.integers(0, span, events)
    order = np.lexsort((finished, service, production))
    service, production, finished = service[order], production[order], finished[order]
    first_in_group = np.ones(events, np.bool_)
    first_in_group[1:] = (service[1:] != service[:-1]) | (production[1:] != production[:-1])

    draw = rng.random(events)
    kind = np.zeros(events, np.int8)  # 0 deploy, 1 rollback, 2 redeploy, 3 hotfix
    kind[(draw < 0.02) & ~first_in_group] = 1
    kind[(draw >= 0.02) & (draw < 0.04) & ~first_in_group] = 2
    kind[(draw >= 0.04) & (draw < 0.06)] = 3
    succeeded = rng.random(events) >= 0.04
    lead = np.minimum(rng.lognormal(np.log(5 * 3600), 1.3, events), 90 * 86_400).astype(np.int64)
    skew = rng.random(events)
    lead[skew < 0.005] = -rng.integers(60, 600, int((skew < 0.005).sum()))
    no_commit = skew > 0.95
    sha_hex = rng.bytes(20 * events).hex()
    imported = rng.random(events) < 0.2
    kinds = ("deploy", "rollback", "redeploy", "hotfix")

    out: list[DeployEvent] = []
    shas: list[str | None] = []
    commits: list[int | None] = []
    for i in range(events):
        k = int(kind[i])
        sha: str | None = sha_hex[40 * i : 40 * i + 40]
        committed: int | None = None if no_commit[i] else int(finished[i] - lead[i])
        rollback_of = None
        if k == 2:  # redeploy: same commit as the previous deployment
            sha, committed = shas[i - 1], commits[i - 1]
        elif k == 1:  # rollback: back to the commit before the previous one
            rollback_of = out[i - 1].deployment_id
            back = i - 2 if i >= 2 and not first_in_group[i - 1] else i - 1
            sha, committed = shas[back], commits[back]
        shas.append(sha)
        commits.append(committed)
        out.append(
            DeployEvent(
                deployment_id=f"d{i:07d}",
                service=names[service[i]],
                environment="production" if production[i] else "staging",
                finished_at=datetime.fromtimestamp(int(finished[i]), UTC),
                committed_at=None if committed is None else datetime.fromtimestamp(committed, UTC),
                sha=sha,
                succeeded=bool(succeeded[i]),
                kind=kinds[k],
                source="import" if imported[i] else "platform",
                rollback_of=rollback_of,
            )
        )
    incidents = _incidents(rng, out, production & succeeded, finished)
    # arrival order is not time order: shuffle so EventLog has to sort
    shuffled = [out[i] for i in rng.permutation(events)]
    return History(shuffled, incidents, names, start, end)


def _incidents(
    rng: np.random.Generator,
    events: list[DeployEvent],
    eligible: np.ndarray,
    finished: np.ndarray,
) -> list[IncidentEvent]:
    causes = np.flatnonzero(eligible & (rng.random(len(events)) < 0.01))
    opened = finished[causes] + rng.integers(300, 6 * 3600, len(causes))
    duration = rng.lognormal(np.log(3600), 1.2, len(causes)).astype(np.int64)
    link = rng.random(len(causes))
    open_still = rng.random(len(causes)) < 0.05
    out = []
    for n, i in enumerate(causes):
        event = events[i]
        out.append(
            IncidentEvent(
                incident_id=f"inc{n:06d}",
                service=event.service,
                opened_at=datetime.fromtimestamp(int(opened[n]), UTC),
                resolved_at=None
                if open_still[n]
                else datetime.fromtimestamp(int(opened[n] + duration[n]), UTC),
                deployment_id=event.deployment_id if link[n] < 0.6 else None,
                sha=event.sha if 0.6 <= link[n] < 0.9 else None,
            )
        )
    return out
