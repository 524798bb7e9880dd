"""Incidents as data, and the Alertmanager webhook payload (pure, no IO).

An :class:`Incident` is something that hurt users: opened by hand (``platform incident
open``), by Alertmanager (``source="alertmanager"``), or by the platform itself when a
production deployment is rolled back or a canary fails (``source="deploy"``). Its root cause
links it to the deployment (id) or commit (sha) that caused it; the DORA change failure rate
and time to restore read incidents through that link (:mod:`goldenpath.insights.dora`).

:func:`parse_alertmanager` reads the Alertmanager webhook payload, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)::

    {"version": "4", "status": "firing"|"resolved", "receiver": "...", "groupKey": "...",
     "alerts": [{"status": "firing"|"resolved", "labels": {...}, "annotations": {...},
                 "startsAt": "<rfc3339>", "endsAt": "<rfc3339>", "fingerprint": "<hex>",
                 "generatorURL": "..."}], ...}

and turns every alert into an :class:`AlertChange`. One alert occurrence (same fingerprint,
same ``startsAt``) is one incident: the fingerprint stored is
``alertmanager:<fingerprint>:<startsAt>``, so repeated notifications of a firing alert never
open a second incident, its ``resolved`` notification closes it, and the same alert firing
again later opens a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from goldenpath.errors import InvalidInput

__all__ = [
    "SEVERITIES",
    "SOURCES",
    "STATES",
    "AlertChange",
    "Incident",
    "check_severity",
    "check_title",
    "iso",
    "parse_alertmanager",
    "parse_time",
]

IncidentState = Literal["open", "resolved"]
IncidentSource = Literal["manual", "alertmanager", "deploy"]

#: severities, most severe first (PagerDuty/Atlassian SEV levels)
SEVERITIES: tuple[str, ...] = ("sev1", "sev2", "sev3", "sev4")
STATES: tuple[str, ...] = ("open", "resolved")
SOURCES: tuple[str, ...] = ("manual", "alertmanager", "deploy")
TITLE_MAX = 500

#: Alertmanager ``severity`` label values (Prometheus conventions) → our severities
_ALERT_SEVERITY = {
    "critical": "sev1",
    "page": "sev1",
    "error": "sev2",
    "high": "sev2",
    "major": "sev2",
    "warning": "sev3",
    "minor": "sev3",
    "info": "sev4",
    "low": "sev4",
}
_SERVICE_LABELS = ("service", "app", "job")
_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: Go's zero time, which Alertmanager sends as ``endsAt`` of a firing alert without an end
_ZERO_YEAR = 1


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO-8601 with a ``Z`` suffix for UTC, or None."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class Incident:
    """One incident. ``root_cause_deployment``/``root_cause_sha`` the deployment and commit
    that caused it (either may be None); times aware UTC; ``fingerprint`` the dedupe key of
    automatic incidents (``deploy:<id>``, ``alertmanager:<fp>:<startsAt>``) or None;
    ``labels`` the Alertmanager labels (or ``{}``)."""

    id: int
    title: str
    service: str | None
    severity: str
    state: IncidentState
    source: IncidentSource
    root_cause_deployment: int | None
    root_cause_sha: str | None
    fingerprint: str | None
    opened_at: datetime
    resolved_at: datetime | None
    opened_by: str
    resolved_by: str | None
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """camelCase JSON: ``{id, title, service, severity, state, source, rootCause:
        {deploymentId, sha}, openedAt, resolvedAt, openedBy, resolvedBy, fingerprint}``."""
        return {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "severity": self.severity,
            "state": self.state,
            "source": self.source,
            "rootCause": {"deploymentId": self.root_cause_deployment, "sha": self.root_cause_sha},
            "openedAt": iso(self.opened_at),
            "resolvedAt": iso(self.resolved_at),
            "openedBy": self.opened_by,
            "resolvedBy": self.resolved_by,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class AlertChange:
    """One alert of an Alertmanager notification: ``status`` firing|resolved; ``fingerprint``
    the incident dedupe key (module docstring); ``starts_at``/``ends_at`` aware UTC
    (``ends_at`` None while firing); ``root_cause_deployment``/``root_cause_sha`` from the
    labels or annotations ``deployment_id``/``sha`` when present."""

    status: Literal["firing", "resolved"]
    fingerprint: str
    title: str
    service: str | None
    severity: str
    starts_at: datetime
    ends_at: datetime | None
    labels: Mapping[str, str]
    root_cause_deployment: int | None = None
    root_cause_sha: str | None = None


def check_title(title: object) -> str:
    """``title`` stripped, when it is a non-empty string of at most 500 characters.

    Raises:
        InvalidInput: naming the field ``title``.
    """
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(
            "incident title is empty; describe what users notice, e.g. 'checkout returns 500'",
            details={"field": "title"},
        )
    if len(title.strip()) > TITLE_MAX:
        raise InvalidInput(
            f"incident title has {len(title.strip())} characters; use at most {TITLE_MAX}",
            details={"field": "title"},
        )
    return title.strip()


def check_severity(severity: object) -> str:
    """``severity`` lower-cased when it is one of :data:`SEVERITIES`.

    Raises:
        InvalidInput: naming the field and the allowed values.
    """
    value = severity.strip().lower() if isinstance(severity, str) else severity
    if value not in SEVERITIES:
        raise InvalidInput(
            f"severity {severity!r} is unknown; use one of {', '.join(SEVERITIES)} "
            "(sev1 = most severe)",
            details={"field": "severity", "value": str(severity)},
        )
    return str(value)


def parse_time(value: object, field_name: str) -> datetime:
    """An RFC 3339 / ISO-8601 time as aware UTC (a value without offset is taken as UTC).

    Raises:
        InvalidInput: naming ``field_name`` and showing the expected form.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        # RFC 3339 allows nanoseconds (Go's time.Time); Python keeps microseconds
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as e:
            raise InvalidInput(
                f"{field_name} {value!r} is not an ISO-8601 time; use e.g. 2026-12-04T10:15:00Z",
                details={"field": field_name},
            ) from e
    else:
        raise InvalidInput(
            f"{field_name} is missing or not a string; use an ISO-8601 time such as "
            "2026-12-04T10:15:00Z",
            details={"field": field_name},
        )
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_alertmanager(payload: Mapping[str, Any]) -> list[AlertChange]:
    """The alerts of an Alertmanager webhook notification (version 4), in payload order.

    Service: label ``service``, else ``app``, else ``job`` (None when none is a DNS label).
    Title: annotation ``summary``, else label ``alertname``. Severity: label ``severity``
    mapped (critical→sev1, error→sev2, warning→sev3, info→sev4; unknown → sev2).

    Raises:
        InvalidInput: the payload is not version 4 or a field is malformed; the message and
            ``details.field`` name it (e.g. ``alerts[2].startsAt``).
    """
    if not isinstance(payload, Mapping):
        raise InvalidInput(
            "Alertmanager payload is not a JSON object", details={"field": "payload"}
        )
    version = payload.get("version")
    if str(version) != "4":
        raise InvalidInput(
            f"Alertmanager payload version {version!r} is not supported; this endpoint reads "
            'webhook payload version "4" (Alertmanager ≥ 0.5)',
            details={"field": "version"},
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInput(
            "Alertmanager payload has no alerts list; expected alerts: [{status, labels, "
            "annotations, startsAt, endsAt, fingerprint}]",
            details={"field": "alerts"},
        )
    return [_alert(alert, f"alerts[{i}]") for i, alert in enumerate(alerts)]


def _alert(alert: object, where: str) -> AlertChange:
    if not isinstance(alert, Mapping):
        raise InvalidInput(f"{where} is not an object", details={"field": where})
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise InvalidInput(
            f"{where}.status is {status!r}; Alertmanager sends 'firing' or 'resolved'",
            details={"field": f"{where}.status"},
        )
    labels = _string_map(alert.get("labels"), f"{where}.labels")
    annotations = _string_map(alert.get("annotations", {}), f"{where}.annotations")
    starts_at = parse_time(alert.get("startsAt"), f"{where}.startsAt")
    ends_at: datetime | None = None
    raw_end = alert.get("endsAt")
    if raw_end not in (None, ""):
        ends_at = parse_time(raw_end, f"{where}.endsAt")
        if ends_at.year <= _ZERO_YEAR or status == "firing":
            ends_at = None
    fingerprint = alert.get("fingerprint")
    if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint):
        raise InvalidInput(
            f"{where}.fingerprint is not a string", details={"field": f"{where}.fingerprint"}
        )
    if not fingerprint:  # older Alertmanagers: a stable hash of the label set
        canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    title = annotations.get("summary") or labels.get("alertname")
    if not title:
        raise InvalidInput(
            f"{where} has neither annotations.summary nor labels.alertname to title the incident",
            details={"field": f"{where}.labels.alertname"},
        )
    return AlertChange(
        status=status,
        fingerprint=f"alertmanager:{fingerprint}:{iso(starts_at)}",
        title=title.strip()[:TITLE_MAX],
        service=_service(labels),
        severity=_ALERT_SEVERITY.get(labels.get("severity", "").lower(), "sev2"),
        starts_at=starts_at,
        ends_at=ends_at,
        labels=labels,
        root_cause_deployment=_deployment_id(labels, annotations),
        root_cause_sha=_sha(labels, annotations),
    )


def _string_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(
            f"{where} is not an object of strings (Alertmanager label/annotation sets are)",
            details={"field": where},
        )
    return dict(value)


def _service(labels: Mapping[str, str]) -> str | None:
    for key in _SERVICE_LABELS:
        value = labels.get(key, "").strip().lower()
        if value and _SERVICE.match(value):
            return value
    return None


def _deployment_id(labels: Mapping[str, str], annotations: Mapping[str, str]) -> int | None:
    raw = labels.get("deployment_id") or annotations.get("deployment_id") or ""
    return int(raw) if raw.isdigit() else None


def _sha(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str | None:
    raw = (labels.get("sha") or annotations.get("sha") or "").strip().lower()
    return raw if re.fullmatch(r"[0-9a-f]{7,64}", raw) else None
