"""Incremental scan of production deployments: DORA events and automatic incidents.

Private to :mod:`goldenpath.insights.service`. One :class:`DeploymentFeed` per service keeps
an in-memory :class:`~goldenpath.insights.dora.EventLog` and extends it with what changed
since the last scan: platform deployments with an id above a watermark plus those still in
flight last time (an in-flight deployment becomes an event once it is terminal), and
imported events with a row id above their own watermark. The same scan opens the automatic
incidents (``source="deploy"``, fingerprint ``deploy:<root cause deployment id>``, so
re-scans after a restart never duplicate them):

- a rollback in production → an incident whose root cause is the deployment it rolled back,
  opened when the rollback was asked for (its ``created_at``), resolved when the rollback
  succeeded (restored);
- a canary in production that failed or was aborted → an incident rooted at that deployment,
  opened when it started and resolved when it ended (the platform moved traffic back to the
  stable version then).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from goldenpath.errors import Conflict
from goldenpath.insights import store
from goldenpath.insights.dora import DeployEvent, EventLog
from goldenpath.insights.imports import DeploymentImport

__all__ = ["DeploymentFeed"]

_TERMINAL = frozenset({"succeeded", "failed", "aborted"})
_FAILED = frozenset({"failed", "aborted"})
ACTOR = "platform:deploy"


class DeploymentFeed:
    """The cached production :class:`EventLog` and the automatic incidents (module doc).

    Thread-safe: :meth:`refresh` and the caller's reads of :attr:`log` run under :attr:`lock`.
    """

    def __init__(self, *, engine: Engine, environment: str, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.environment = environment
        self.clock = clock
        self.lock = threading.RLock()
        self.log = EventLog.from_events([])
        self._deploy_mark = 0
        self._in_flight: set[int] = set()
        self._import_mark = 0

    def refresh(self) -> int:
        """Read what changed since the last call into :attr:`log` and open/resolve the
        automatic incidents; returns how many incidents were opened."""
        with self.lock:
            rows = store.production_deployments(
                self.engine,
                environment=self.environment,
                after_id=self._deploy_mark,
                also=self._in_flight,
            )
            events: list[DeployEvent] = []
            in_flight: set[int] = set()
            opened = 0
            for row in rows:
                opened += self._incident_for(row)
                if row.state in _TERMINAL and row.finished_at is not None:
                    events.append(_platform_event(row, self.environment))
                else:
                    in_flight.add(row.id)
                self._deploy_mark = max(self._deploy_mark, row.id)
            self._in_flight = in_flight
            for imported in store.imported_after(
                self.engine, self._import_mark, environment=self.environment
            ):
                events.append(_imported_event(imported.event))
                self._import_mark = imported.id
            if events:
                self.log.extend(events)
            return opened

    def _incident_for(self, row: store.DeployRow) -> int:
        if row.kind == "rollback" and row.rollback_of is not None:
            return self._rollback_incident(row)
        if row.strategy == "canary" and row.state in _FAILED and row.kind != "rollback":
            values = _values(
                title=f"Canary of {row.service} (deployment {row.id}) {row.state} in production",
                service=row.service,
                severity="sev3",
                deployment_id=row.id,
                sha=row.sha,
                opened_at=row.created_at,
            )
            values.update(
                state="resolved", resolved_at=row.finished_at or row.created_at, resolved_by=ACTOR
            )
            return int(store.insert_incident(self.engine, values)[1])
        return 0

    def _rollback_incident(self, row: store.DeployRow) -> int:
        assert row.rollback_of is not None
        found = store.deployment_sha(self.engine, row.rollback_of)
        values = _values(
            title=(
                f"{row.service} rolled back in production: deployment {row.rollback_of} undone "
                f"by deployment {row.id}"
            ),
            service=row.service,
            severity="sev2",
            deployment_id=row.rollback_of,
            sha=found[1] if found else None,
            opened_at=row.created_at,
        )
        restored = row.state == "succeeded" and row.finished_at is not None
        if restored:
            values.update(state="resolved", resolved_at=row.finished_at, resolved_by=ACTOR)
        incident, created = store.insert_incident(self.engine, values)
        if not created and restored and incident.state == "open":
            # resolved meanwhile (by a person or another replica): nothing to do
            with contextlib.suppress(Conflict):
                store.resolve_incident(
                    self.engine, incident.id, actor=ACTOR, at=row.finished_at or self.clock()
                )
        return int(created)


def _values(
    *,
    title: str,
    service: str,
    severity: str,
    deployment_id: int,
    sha: str | None,
    opened_at: datetime,
) -> dict[str, Any]:
    return {
        "title": title,
        "service": service,
        "severity": severity,
        "state": "open",
        "source": "deploy",
        "root_cause_deployment": deployment_id,
        "root_cause_sha": sha,
        "fingerprint": f"deploy:{deployment_id}",
        "opened_at": opened_at,
        "resolved_at": None,
        "opened_by": ACTOR,
        "resolved_by": None,
        "labels": {},
    }


def _platform_event(row: store.DeployRow, environment: str) -> DeployEvent:
    assert row.finished_at is not None
    return DeployEvent(
        deployment_id=str(row.id),
        service=row.service,
        environment=environment,
        finished_at=row.finished_at,
        committed_at=row.committed_at,
        sha=row.sha,
        succeeded=row.state == "succeeded",
        kind=row.kind,
        source="platform",
        rollback_of=None if row.rollback_of is None else str(row.rollback_of),
    )


def _imported_event(event: DeploymentImport) -> DeployEvent:
    return DeployEvent(
        deployment_id=f"{event.source}:{event.external_id}",
        service=event.service,
        environment=event.environment,
        finished_at=event.finished_at,
        committed_at=event.committed_at,
        sha=event.sha,
        succeeded=event.succeeded,
        kind=event.kind,
        source="import",
        rollback_of=None if event.rollback_of is None else f"{event.source}:{event.rollback_of}",
    )
