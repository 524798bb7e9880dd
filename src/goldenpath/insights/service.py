"""``InsightsService``: DORA reports, incidents, imported deployments, the survey, scorecards,
maturity and platform metrics — the use cases behind ``/api/insights/v1`` and the portal.

DORA (issue 8) is computed from our own events: the deploy store's production deployments
(``settings.insights.production_environment``), deployment events imported from an outside
CI (:mod:`goldenpath.insights.imports`) and incidents (:mod:`goldenpath.insights.incidents`),
through :func:`goldenpath.insights.dora.dora_report`. The event log is cached in memory and
extended incrementally (:mod:`goldenpath.insights._sync`), so repeated reports read only what
changed. Scopes: one service, a team (the Components whose ``spec.owner`` is the Group), a
system (``spec.system``) or the organisation.

Scorecards, maturity and platform metrics delegate to :mod:`goldenpath.insights.scorecards`,
:mod:`~goldenpath.insights.maturity`, :mod:`~goldenpath.insights.platform_metrics` and
:mod:`~goldenpath.insights.facts` (imported on first use).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.insights import _scope as check
from goldenpath.insights import store
from goldenpath.insights._scope import MAX_WINDOW_DAYS
from goldenpath.insights._sync import DeploymentFeed
from goldenpath.insights.dora import DoraReport, IncidentEvent, dora_report
from goldenpath.insights.imports import validate_events
from goldenpath.insights.incidents import (
    Incident,
    check_severity,
    check_title,
    parse_alertmanager,
)
from goldenpath.insights.survey import check_score, clean_comment, survey_report
from goldenpath.settings import Settings

if TYPE_CHECKING:
    from goldenpath.catalog.service import CatalogService
    from goldenpath.insights.facts import FactCollector
    from goldenpath.insights.scorecards import ScorecardService

__all__ = ["MAX_WINDOW_DAYS", "InsightsService"]

#: deployment ids are 64-bit integers: 18 digits always fit
_MAX_ID_DIGITS = 18
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InsightsService:
    """Insights use cases (module docstring).

    Args:
        engine: the platform database (migrated to ``0010_insights`` or later).
        settings: the whole settings tree (``insights.production_environment``).
        catalog: the catalog service (team/system → services; scorecard facts).
        clock: aware-UTC "now" (default: the wall clock).
        redact: masks the platform's stored secret values in free text (survey comments),
            e.g. ``SecretService.redact``.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        catalog: CatalogService,
        clock: Callable[[], datetime] | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.clock = clock or _utcnow
        self.redact = redact
        self.production = settings.insights.production_environment
        self._feed = DeploymentFeed(engine=engine, environment=self.production, clock=self.clock)
        self._scorecards: ScorecardService | None = None
        self._facts: FactCollector | None = None

    # -- DORA ------------------------------------------------------------------------------

    def dora(
        self,
        *,
        service: str | None = None,
        team: str | None = None,
        system: str | None = None,
        window_days: int = 90,
        now: datetime | None = None,
    ) -> DoraReport:
        """The DORA report (four keys, rework rate, levels, weekly trend) over the last
        ``window_days`` days up to ``now`` for one scope: ``service`` (a Component name),
        ``team`` (a Group ref, ``team-a`` = ``group:default/team-a``), ``system`` (a System
        ref) or, with none of them, the organisation. Opens the automatic incidents first
        (:meth:`sync_incidents`).

        Raises:
            InvalidInput: more than one scope, a malformed name, a window outside
                1-3650 days.
        """
        days = check.window_days(window_days)
        end = (now or self.clock()).astimezone(UTC)
        start = end - timedelta(days=days)
        services, scope = check.resolve_scope(
            self.catalog, service=service, team=team, system=system
        )
        with self._feed.lock:
            self._feed.refresh()
            return dora_report(
                self._feed.log,
                self._incident_events(start - timedelta(days=days)),
                start=start,
                end=end,
                services=services,
                environment=self.production,
                scope=scope,
            )

    def _incident_events(self, since: datetime) -> list[IncidentEvent]:
        return [
            IncidentEvent(
                incident_id=str(i.id),
                service=i.service,
                opened_at=i.opened_at,
                resolved_at=i.resolved_at,
                deployment_id=(
                    None if i.root_cause_deployment is None else str(i.root_cause_deployment)
                ),
                sha=i.root_cause_sha,
            )
            for i in store.incidents_opened_since(self.engine, since)
        ]

    def dora_levels(
        self, services: Sequence[str], now: datetime, *, window_days: int = 90
    ) -> dict[str, str | None]:
        """Each service's overall DORA level over the last ``window_days`` days (None for a
        service without production deployments) — the scorecards' ``dora.level`` fact.

        One report per service that has deployments (a vectorised pass over the log each);
        services without any are answered without a report.
        """
        end = now.astimezone(UTC)
        start = end - timedelta(days=window_days)
        levels: dict[str, str | None] = {name: None for name in services}
        with self._feed.lock:
            self._feed.refresh()
            known = set(self._feed.log.service_names)
            wanted = [name for name in services if name in known]
            if not wanted:
                return levels
            incidents = self._incident_events(start - timedelta(days=window_days))
            for name in wanted:
                report = dora_report(
                    self._feed.log,
                    incidents,
                    start=start,
                    end=end,
                    services={name},
                    environment=self.production,
                    scope=f"service:{name}",
                )
                levels[name] = report.level
        return levels

    def weekly_trend(self, metric: str, **scope: Any) -> list[dict[str, Any]]:
        """``[{weekStart, value}]`` of one weekly column of :meth:`dora` (``deployments``,
        ``leadTimeMedianSeconds``, ``changeFailureRate``, ``timeToRestoreMedianSeconds``,
        ``reworkRate``); ``scope`` as :meth:`dora`'s keyword arguments.

        Raises:
            InvalidInput: an unknown metric (names the known ones), or bad scope arguments.
        """
        weekly = self.dora(**scope).to_dict()["weekly"]
        known = sorted(k for k in (weekly[0] if weekly else {}) if k != "weekStart")
        if weekly and metric not in known:
            raise InvalidInput(
                f"metric {metric!r} is unknown; use one of {', '.join(known)}",
                details={"field": "metric"},
            )
        return [{"weekStart": w["weekStart"], "value": w.get(metric)} for w in weekly]

    # -- incidents -------------------------------------------------------------------------

    def sync_incidents(self) -> int:
        """Open the automatic incidents for production rollbacks and failed or aborted
        canaries not yet seen (idempotent: fingerprint ``deploy:<id>``); returns how many
        were opened."""
        return self._feed.refresh()

    def open_incident(
        self,
        *,
        title: str,
        service: str | None = None,
        severity: str = "sev2",
        root_cause: int | str | None = None,
        actor: str,
        source: str = "manual",
        fingerprint: str | None = None,
    ) -> Incident:
        """Open an incident now. ``root_cause``: a platform deployment id (int or digits; its
        service and commit are filled in) or a commit sha (7-64 hex digits). With a
        ``fingerprint`` already stored, the existing incident is returned unchanged.

        Raises:
            InvalidInput: empty/long title, unknown severity or source, malformed service
                or root cause (each names its field).
            NotFound: ``root_cause`` names a deployment that does not exist.
        """
        clean_title = check_title(title)
        level = check_severity(severity)
        if source not in ("manual", "alertmanager", "deploy"):
            raise InvalidInput(
                f"source {source!r} is unknown; use manual, alertmanager or deploy",
                details={"field": "source"},
            )
        name = None if service is None else check.service_name(service)
        deployment_id, sha, deployed = self._root_cause(root_cause)
        incident, _ = store.insert_incident(
            self.engine,
            {
                "title": clean_title,
                "service": name or deployed,
                "severity": level,
                "state": "open",
                "source": source,
                "root_cause_deployment": deployment_id,
                "root_cause_sha": sha,
                "fingerprint": fingerprint,
                "opened_at": self.clock(),
                "resolved_at": None,
                "opened_by": check.actor_name(actor),
                "resolved_by": None,
                "labels": {},
            },
        )
        return incident

    def _root_cause(
        self, root_cause: int | str | None
    ) -> tuple[int | None, str | None, str | None]:
        """``(deployment id, sha, service of the deployment)`` for a root cause."""
        if root_cause is None or root_cause == "":
            return None, None, None
        text = str(root_cause).strip().lower()
        # a deployment id: an int, or at most 18 digits (longer all-digit text is a sha)
        is_id = isinstance(root_cause, int) and not isinstance(root_cause, bool)
        if is_id or (text.isdigit() and len(text) <= _MAX_ID_DIGITS):
            found = store.deployment_sha(self.engine, int(text))
            if found is not None:
                return int(text), found[1], found[0]
            if not _SHA.match(text):
                raise NotFound(
                    f"root cause: deployment {text} does not exist; `platform deploy history` "
                    "lists them (or pass a commit sha)",
                    details={"field": "rootCause"},
                )
        if not _SHA.match(text):
            raise InvalidInput(
                f"root cause {root_cause!r} is neither a deployment id nor a git commit sha "
                "(7-64 hex digits)",
                details={"field": "rootCause"},
            )
        return None, text, None

    def resolve_incident(self, incident_id: int, *, actor: str) -> Incident:
        """Resolve an open incident now.

        Raises:
            NotFound: no such incident.
            Conflict: it is resolved already.
        """
        return store.resolve_incident(
            self.engine, int(incident_id), actor=check.actor_name(actor), at=self.clock()
        )

    def get_incident(self, incident_id: int) -> Incident:
        """Incident ``incident_id`` (NotFound when missing)."""
        return store.get_incident(self.engine, int(incident_id))

    def list_incidents(
        self, *, service: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Incident]:
        """Incidents newest first (after :meth:`sync_incidents`), optionally of one service
        and/or state (``open``|``resolved``), at most ``limit`` (1-1000).

        Raises:
            InvalidInput: unknown state, limit out of range, malformed service name.
        """
        self.sync_incidents()
        name = None if service is None else check.service_name(service)
        return store.list_incidents(self.engine, service=name, state=state, limit=limit)

    def alertmanager(
        self, payload: Mapping[str, Any], *, actor: str = "alertmanager"
    ) -> list[Incident]:
        """Apply an Alertmanager webhook notification (version 4): a firing alert opens an
        incident (once per alert occurrence), a resolved one resolves it (opening it
        already resolved when the firing notification was missed). Returns the incidents
        touched, in payload order.

        Raises:
            InvalidInput: a malformed payload (names the field, e.g. ``alerts[0].startsAt``).
        """
        touched: dict[int, Incident] = {}
        for change in parse_alertmanager(payload):
            values: dict[str, Any] = {
                "title": change.title,
                "service": change.service,
                "severity": change.severity,
                "state": "open",
                "source": "alertmanager",
                "root_cause_deployment": change.root_cause_deployment,
                "root_cause_sha": change.root_cause_sha,
                "fingerprint": change.fingerprint,
                "opened_at": change.starts_at,
                "resolved_at": None,
                "opened_by": actor,
                "resolved_by": None,
                "labels": dict(change.labels),
            }
            ended = max(change.ends_at or self.clock(), change.starts_at)
            if change.status == "resolved":
                values.update(state="resolved", resolved_at=ended, resolved_by=actor)
            incident, created = store.insert_incident(self.engine, values)
            if not created and change.status == "resolved" and incident.state == "open":
                incident = self._resolve_quietly(incident, actor=actor, at=ended)
            touched[incident.id] = incident
        return list(touched.values())

    def _resolve_quietly(self, incident: Incident, *, actor: str, at: datetime) -> Incident:
        try:
            return store.resolve_incident(self.engine, incident.id, actor=actor, at=at)
        except Conflict:  # resolved meanwhile: Alertmanager re-sends, replicas race
            return store.get_incident(self.engine, incident.id)

    # -- imported deployments --------------------------------------------------------------

    def import_deployments(
        self, events: Sequence[Mapping[str, Any]], *, source: str = "import"
    ) -> dict[str, Any]:
        """Store deployment events from an outside CI (shape: :mod:`goldenpath.insights.imports`).

        Returns ``{accepted, duplicates, errors: [{index, field, message}]}``: valid events
        are stored even when others are refused; an event whose ``(source, id)`` is stored
        already (or repeated in the request) counts as a duplicate and is not re-inserted.

        Raises:
            InvalidInput: not a list, or more than 5,000 events.
        """
        valid, problems = validate_events(events, source=source)
        unique = list({(e.source, e.external_id): e for e in reversed(valid)}.values())[::-1]
        accepted = store.insert_imports(self.engine, unique, now=self.clock()) if unique else 0
        return {
            "accepted": accepted,
            "duplicates": len(valid) - accepted,
            "errors": [p.to_dict() for p in problems],
        }

    # -- survey ----------------------------------------------------------------------------

    def submit_survey(self, *, user: str, score: int, comment: str | None = None) -> dict[str, Any]:
        """Record one NPS answer of ``user`` (an entity ref); returns it as
        ``{id, user, score, comment, createdAt}`` (the comment as stored: plain text,
        credentials masked).

        Raises:
            InvalidInput: score not 0-10, comment over 2,000 characters, no user.
        """
        who = check.actor_name(user)
        answer = store.insert_survey(
            self.engine,
            user=who,
            score=check_score(score),
            comment=clean_comment(comment, redact=self.redact),
            at=self.clock(),
        )
        return answer.to_dict()

    def survey_results(self, *, window_days: int = 90) -> dict[str, Any]:
        """NPS over the last ``window_days`` days with a weekly trend and recent comments
        (shape: :func:`goldenpath.insights.survey.survey_report`).

        Raises:
            InvalidInput: a window outside 1-3650 days.
        """
        days = check.window_days(window_days)
        end = self.clock().astimezone(UTC)
        start = end - timedelta(days=days)
        answers = store.survey_since(self.engine, start)
        return survey_report(answers, start=start, end=end + timedelta(microseconds=1))

    # -- scorecards, maturity, platform metrics (helper modules) ---------------------------

    @property
    def facts(self) -> FactCollector:
        """The :class:`goldenpath.insights.facts.FactCollector` (built on first use; its
        ``dora.level`` fact comes from :meth:`dora_levels`)."""
        if self._facts is None:
            from goldenpath.insights.facts import FactCollector

            self._facts = FactCollector(
                catalog=self.catalog,
                engine=self.engine,
                settings=self.settings,
                dora_levels=self.dora_levels,
            )
        return self._facts

    @property
    def scorecards(self) -> ScorecardService:
        """The :class:`goldenpath.insights.scorecards.ScorecardService` (built on first use)."""
        if self._scorecards is None:
            from goldenpath.insights.scorecards import ScorecardService

            self._scorecards = ScorecardService(
                catalog=self.catalog, facts=self.facts, settings=self.settings, clock=self.clock
            )
        return self._scorecards

    def maturity(self, *, window_days: int = 90) -> dict[str, Any]:
        """The organisation's platform maturity (seed 001 stages) with what is missing for
        the next level, from the organisation facts plus the DORA level, scorecard coverage
        (share of services holding at least the default scorecard's lowest level), scheduled
        scorecard rules and the survey (shape:
        :func:`goldenpath.insights.maturity.assess_maturity`).

        Raises:
            InvalidInput: a window outside 1-3650 days; a malformed scorecard file.
        """
        from goldenpath.insights.maturity import assess_maturity

        days = check.window_days(window_days)
        now = self.clock().astimezone(UTC)
        facts = self.facts.org_facts(now=now, window_days=days)
        facts["doraLevel"] = self.dora(window_days=days, now=now).level
        facts["incidents"] = self._incidents_between(now - timedelta(days=days))
        facts.update(self._scorecard_facts(now))
        survey = self.survey_results(window_days=days)
        facts["survey"] = {"responses": survey["responses"], "nps": survey["nps"]}
        return assess_maturity(facts)

    def _scorecard_facts(self, now: datetime) -> dict[str, Any]:
        from goldenpath.insights.scorecards import rule_effective

        cards = self.scorecards.definitions()
        scheduled = sum(
            1
            for card in cards
            for rule in card.rules
            if rule.effective_from is not None and not rule_effective(rule, now)
        )
        coverage = None
        if cards:
            summary = self.scorecards.summary(now=now)
            if summary["total"]:
                coverage = (summary["total"] - summary["none"]) / summary["total"]
        return {"scheduledRules": scheduled, "scorecardCoverage": coverage}

    def _incidents_between(self, start: datetime) -> list[Incident]:
        return [i for i in store.incidents_opened_since(self.engine, start) if i.opened_at >= start]

    def platform_metrics(self, *, window_days: int = 90) -> dict[str, Any]:
        """Time to first deploy (per service and per new developer), self-service rate,
        golden-path adoption and MTTR over the last ``window_days`` days (shape:
        :func:`goldenpath.insights.platform_metrics.platform_metrics`).

        Raises:
            InvalidInput: a window outside 1-3650 days.
        """
        from goldenpath.insights.platform_metrics import platform_metrics

        days = check.window_days(window_days)
        now = self.clock().astimezone(UTC)
        self.sync_incidents()
        facts = self.facts.org_facts(now=now, window_days=days)
        facts["incidents"] = self._incidents_between(now - timedelta(days=days))
        return platform_metrics(facts)
