"""Incidents for the DORA report: the event type and its root-cause links, vectorised.

An incident points at the deployment that caused it by ``deployment_id`` or, failing
that, by commit ``sha``: then the earliest deployment of that commit to the reported
environment (of the incident's service when it names one) that finished at or before
the incident opened. Later redeploys of the same commit are not blamed again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from goldenpath.insights._dora_log import NO_TIME, EventLog, epoch_seconds

__all__ = ["IncidentEvent", "LinkedIncidents", "link_incidents"]

I64 = npt.NDArray[np.int64]
_ANY_SERVICE = -2


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """A production incident and (optionally) the deployment that caused it.

    Attributes:
        incident_id: unique id.
        service: the affected service, or None.
        opened_at / resolved_at: aware datetimes; resolved_at None while open.
        deployment_id / sha: the root cause (a deployment id, or a commit sha).

    Raises:
        InvalidInput: a naive datetime.
    """

    incident_id: str
    service: str | None
    opened_at: datetime
    resolved_at: datetime | None = None
    deployment_id: str | None = None
    sha: str | None = None

    def __post_init__(self) -> None:
        epoch_seconds(self.opened_at, f"incident {self.incident_id} opened_at")
        if self.resolved_at is not None:
            epoch_seconds(self.resolved_at, f"incident {self.incident_id} resolved_at")


@dataclass(frozen=True)
class LinkedIncidents:
    """Incidents as columns: ``opened`` / ``resolved`` (epoch s, NO_TIME while open),
    ``position`` (log index of the root-cause deployment, -1 when none) and
    ``named_in_scope`` (the incident's own service is in the report's scope)."""

    opened: I64
    resolved: I64
    position: I64
    named_in_scope: npt.NDArray[np.bool_]


def link_incidents(
    log: EventLog,
    incidents: Iterable[IncidentEvent],
    env_code: int | None,
    services: Collection[str] | None,
) -> LinkedIncidents:
    """Columns of ``incidents`` with each one's root-cause deployment found in ``log``.

    Sha look-ups are skipped for incidents naming a service outside ``services`` (the
    look-up is limited to that service, so the answer would be out of scope anyway).
    """
    items = list(incidents)
    m = len(items)
    wanted = None if services is None else set(services)
    opened = np.fromiter((epoch_seconds(i.opened_at, "opened_at") for i in items), np.int64, m)
    resolved = np.fromiter(
        (
            NO_TIME if i.resolved_at is None else epoch_seconds(i.resolved_at, "resolved_at")
            for i in items
        ),
        np.int64,
        m,
    )
    named_in_scope = np.fromiter(
        (wanted is None or i.service in wanted for i in items), np.bool_, m
    )
    position = np.full(m, -1, np.int64)
    for k, incident in enumerate(items):
        if incident.deployment_id is not None:
            found = log.index_of(incident.deployment_id)
            if found is not None:
                position[k] = found
    if env_code is not None:
        by_sha = [
            k
            for k, i in enumerate(items)
            if position[k] < 0 and i.sha and (i.service is None or named_in_scope[k])
        ]
        if by_sha:
            _link_by_sha(log, items, np.asarray(by_sha, np.int64), opened, position, env_code)
    return LinkedIncidents(opened, resolved, position, named_in_scope)


def _link_by_sha(
    log: EventLog,
    items: list[IncidentEvent],
    which: I64,
    opened: I64,
    position: I64,
    env_code: int,
) -> None:
    """Fill ``position[which]`` from the incidents' shas (all at once, no per-row numpy)."""
    codes = np.fromiter((log.sha_code(items[k].sha or "") for k in which), np.int32, len(which))
    service = np.fromiter(
        (
            _ANY_SERVICE
            if items[k].service is None
            else _code_or_missing(log.service_code(items[k].service or ""))
            for k in which
        ),
        np.int64,
        len(which),
    )
    # every event whose commit some incident names: one O(n) pass through a lookup table
    wanted = np.zeros(log.commit_count + 1, np.bool_)
    wanted[codes[codes >= 0] + 1] = True
    hits = np.flatnonzero(wanted[log.sha + 1])
    by_code = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_code]
    lo = np.searchsorted(sorted_codes, log.sha[hits], side="left")
    hi = np.searchsorted(sorted_codes, log.sha[hits], side="right")
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return
    cand = np.repeat(hits, lens)
    offset = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
    row = by_code[np.repeat(lo, lens) + offset]
    keep = (log.environment[cand] == env_code) & (log.finished[cand] <= opened[which][row])
    keep &= (service[row] == _ANY_SERVICE) | (log.service[cand] == service[row])
    row, cand = row[keep], cand[keep]
    order = np.lexsort((log.finished[cand], row))
    row, cand = row[order], cand[order]
    first = np.ones(len(row), np.bool_)
    first[1:] = row[1:] != row[:-1]
    position[which[row[first]]] = cand[first]


def _code_or_missing(code: int | None) -> int:
    return -1 if code is None else code
