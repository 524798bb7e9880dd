"""Per-entity fact documents for scorecards, and organisation facts for maturity and metrics.

A *fact document* is the entity JSON (``apiVersion``, ``kind``, ``metadata.*``, ``spec.*``,
``relations``) plus platform facts, addressed by dotted paths in scorecard rules:

=======================  ==================================================================
``ref``                  the lower-case entity ref
``owner.exists``         ``spec.owner`` names an entity the catalog has (bool)
``owner.kind``           its kind as the catalog spells it (``Group``, ``User``) or null
``owner.ref``            the owner's full lower-case ref
``docs.techdocs``        the ``backstage.io/techdocs-ref`` annotation is set (bool)
``oncall``               ``pagerduty`` / ``opsgenie`` when a ``pagerduty.com/*`` or
                         ``opsgenie.com/*`` annotation is set, else null
``slo.defined``          an SLO objective is declared: annotation ``goldenpath.dev/slo`` or
                         ``monitoring.slo`` of the last deployed ``platform.yaml`` (bool)
``slo.objective``        the objective in percent (number) or null
``template.name``        the golden-path template it was created from (``python-service``):
                         annotation ``goldenpath.dev/golden-path``, ``backstage.io/source-
                         template``, or the completed scaffolder task whose ``name`` was it
``template.version``     annotation ``goldenpath.dev/template-version`` or the version marker
                         of the template entity the task ran (its annotation of that name or
                         its catalog ``etag``)
``template.latest``      ``template.version`` equals the catalog template's current marker
``policy.passes``        the latest ``deploy`` policy decision for the service allowed it
``deploy.lastSuccessAt`` finish of the last successful production deployment (ISO) or null
``deploy.daysSinceLast`` days since then (number) or null
``deploy.firstSuccessAt``/``deploy.count``/``deploy.lastSuccessAnyAt``/``deploy.anyCount``
``dora.level``           the service's DORA level (``elite``…``low``) from the injected
                         ``dora_levels`` function, else null
``pipeline.standard``    the service ships through the platform pipeline: it has a platform
                         deployment record, or annotation ``goldenpath.dev/pipeline: standard``
=======================  ==================================================================

A Component maps to the deploy service of the same (lower-case) ``metadata.name``. Facts are
gathered in bulk: the catalog in pages of 500, then one grouped query per source
(:mod:`goldenpath.insights._fact_queries`), and only the sources the rules need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.errors import InvalidInput
from goldenpath.insights import _fact_queries as q

__all__ = ["FACT_ROOTS", "DoraLevels", "FactCollector", "collect_facts"]

#: every platform fact group (first path segment) the collector can add
FACT_ROOTS = ("owner", "docs", "oncall", "slo", "template", "policy", "deploy", "dora", "pipeline")
#: service names, now → service → DORA level (or None); wired by the insights service
DoraLevels = Callable[[Sequence[str], datetime], Mapping[str, str | None]]
_PAGE = 500
_ONCALL = (("pagerduty.com/", "pagerduty"), ("opsgenie.com/", "opsgenie"))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def entity_ref(entity: Mapping[str, Any]) -> str:
    """``kind:namespace/name`` of ``entity``, lower-cased."""
    meta = entity.get("metadata") or {}
    return f"{entity.get('kind')}:{meta.get('namespace') or 'default'}/{meta.get('name')}".lower()


def _annotations(entity: Mapping[str, Any]) -> Mapping[str, Any]:
    return (entity.get("metadata") or {}).get("annotations") or {}


def _owner_ref(owner: Any) -> str | None:
    if not isinstance(owner, str) or not owner:
        return None
    try:
        return str(parse_entity_ref(owner, default_kind="group")).lower()
    except InvalidInput:
        return None


class FactCollector:
    """Bulk fact gathering over the catalog and the platform's stores (read-only).

    Args:
        catalog: a :class:`goldenpath.catalog.service.CatalogService` (``query_entities``,
            ``get_entity_by_ref``, ``get_entities_by_refs``).
        engine: the store's SQLAlchemy engine (deploy, policy, scaffolder, auth tables).
        production_environment: the environment whose deployments count (default
            ``settings.insights.production_environment`` or ``production``).
        settings: the settings tree, read for the production environment only.
        dora_levels: :data:`DoraLevels` giving each service's DORA level; None → null.
    """

    def __init__(
        self,
        *,
        catalog: Any,
        engine: Engine,
        settings: Any = None,
        production_environment: str | None = None,
        dora_levels: DoraLevels | None = None,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        if production_environment is None:
            production_environment = (
                settings.insights.production_environment if settings is not None else None
            )
        self.production = production_environment or "production"
        self.dora_levels = dora_levels

    # --- entities -------------------------------------------------------------------------

    def entities(
        self,
        entity_refs: Sequence[str] | None = None,
        *,
        kind: str = "component",
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The entities named (NotFound for a missing one), or every entity of ``kind``;
        ``fields`` limits the listing to those top-level fields (None: whole entities)."""
        if entity_refs is not None:
            return [dict(self.catalog.get_entity_by_ref(ref)) for ref in entity_refs]
        found: list[dict[str, Any]] = []
        page = self.catalog.query_entities(filters=[{"kind": kind}], limit=_PAGE, fields=fields)
        found.extend(page.items)
        while page.next_cursor:
            page = self.catalog.query_entities(cursor=page.next_cursor, limit=_PAGE, fields=fields)
            found.extend(page.items)
        return found

    def _existing(self, refs: Iterable[str]) -> dict[str, str | None]:
        """Ref → the catalog's kind for those that exist (batches of 500)."""
        wanted = sorted(set(refs))
        found: dict[str, str | None] = {}
        for start in range(0, len(wanted), _PAGE):
            chunk = wanted[start : start + _PAGE]
            for ref, entity in zip(
                chunk, self.catalog.get_entities_by_refs(chunk, fields=["kind"]), strict=True
            ):
                if entity is not None:
                    found[ref] = entity.get("kind")
        return found

    def _templates(self) -> dict[str, str | None]:
        """Template ref → its current version marker (every Template in the catalog)."""
        return {entity_ref(t): q.template_version(t) for t in self.entities(None, kind="template")}

    # --- per-entity facts -------------------------------------------------------------------

    def collect(
        self,
        *,
        now: datetime,
        entity_refs: Sequence[str] | None = None,
        needs: Iterable[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Fact documents by lower-case entity ref: of ``entity_refs`` (any kind) or, when
        None, of every Component. ``needs``: the fact groups to gather (:data:`FACT_ROOTS`;
        None = all); unknown names are ignored (they are entity paths).

        Raises:
            NotFound: an entity in ``entity_refs`` does not exist.
            InvalidInput: a malformed entity ref.
        """
        wanted = set(FACT_ROOTS) if needs is None else set(needs) & set(FACT_ROOTS)
        entities = self.entities(entity_refs)
        docs = {entity_ref(e): dict(e) for e in entities}
        for ref, doc in docs.items():
            doc["ref"] = ref
            self._entity_facts(doc)
        services = {
            ref: str((d.get("metadata") or {}).get("name", "")).lower() for ref, d in docs.items()
        }
        if "owner" in wanted:
            self._owner_facts(docs)
        if wanted & {"deploy", "pipeline"}:
            self._deploy_facts(docs, services, now)
        if "slo" in wanted:
            self._slo_facts(docs, services)
        if "template" in wanted:
            self._template_facts(docs, services)
        if "policy" in wanted:
            latest = q.latest_policy(self.engine)
            for ref, doc in docs.items():
                found = latest.get(services[ref])
                doc["policy"] = {
                    "passes": None if found is None else found[0],
                    "decidedAt": None if found is None else _iso(found[1]),
                    "decisionId": None if found is None else found[2],
                }
        if "dora" in wanted:
            levels = (
                self.dora_levels(sorted(set(services.values())), now) if self.dora_levels else {}
            )
            for ref, doc in docs.items():
                doc["dora"] = {"level": levels.get(services[ref])}
        return docs

    @staticmethod
    def _entity_facts(doc: dict[str, Any]) -> None:
        """Facts read from the entity alone: docs, on-call, SLO annotation (defaults)."""
        annotations = _annotations(doc)
        techdocs = annotations.get("backstage.io/techdocs-ref")
        doc["docs"] = {"techdocs": bool(techdocs), "ref": techdocs}
        doc["oncall"] = _oncall(annotations)
        doc["slo"] = {"defined": False, "objective": None, "source": None}
        raw = annotations.get("goldenpath.dev/slo")
        if raw not in (None, ""):
            try:
                objective: float | None = float(str(raw).rstrip("%"))
            except ValueError:
                objective = None
            doc["slo"] = {"defined": True, "objective": objective, "source": "annotation"}
        doc["owner"] = {
            "ref": _owner_ref((doc.get("spec") or {}).get("owner")),
            "exists": False,
            "kind": None,
        }

    def _owner_facts(self, docs: Mapping[str, dict[str, Any]]) -> None:
        refs = [d["owner"]["ref"] for d in docs.values() if d["owner"]["ref"]]
        existing = self._existing(refs)
        for doc in docs.values():
            ref = doc["owner"]["ref"]
            if ref in existing:
                doc["owner"] = {"ref": ref, "exists": True, "kind": existing[ref]}

    def _deploy_facts(
        self, docs: Mapping[str, dict[str, Any]], services: Mapping[str, str], now: datetime
    ) -> None:
        summaries = q.deploy_summaries(self.engine, self.production)
        empty = q.DeploySummary()
        for ref, doc in docs.items():
            s = summaries.get(services[ref], empty)
            last = s.last_production
            doc["deploy"] = {
                "lastSuccessAt": _iso(last),
                "daysSinceLast": None
                if last is None
                else round((now - last).total_seconds() / 86400, 3),
                "firstSuccessAt": _iso(s.first_production),
                "count": s.production_count,
                "lastSuccessAnyAt": _iso(s.last_any),
                "anyCount": s.any_count,
            }
            marked = _annotations(doc).get("goldenpath.dev/pipeline")
            standard = s.any_count > 0 if marked is None else str(marked).lower() == "standard"
            doc["pipeline"] = {"standard": standard}

    def _slo_facts(self, docs: Mapping[str, dict[str, Any]], services: Mapping[str, str]) -> None:
        slos = q.latest_slos(self.engine)
        for ref, doc in docs.items():
            slo = slos.get(services[ref])
            if not doc["slo"]["defined"] and slo is not None:
                doc["slo"] = {"defined": True, "objective": slo, "source": "workload"}

    def _template_facts(
        self, docs: Mapping[str, dict[str, Any]], services: Mapping[str, str]
    ) -> None:
        origins = q.task_origins(self.engine)
        current = self._templates()
        for ref, doc in docs.items():
            annotations = _annotations(doc)
            origin = origins.get(services[ref])
            template_ref = _template_ref(annotations) or (origin.template_ref if origin else None)
            version = annotations.get("goldenpath.dev/template-version") or (
                origin.template_version if origin else None
            )
            latest_version = current.get(template_ref) if template_ref else None
            doc["template"] = {
                "name": None if template_ref is None else template_ref.split("/", 1)[-1],
                "ref": template_ref,
                "version": None if version is None else str(version),
                "latestVersion": latest_version,
                "latest": (
                    None
                    if template_ref is None
                    else version is not None and str(version) == latest_version
                ),
                "createdAt": _iso(origin.completed_at) if origin else None,
            }

    # --- organisation facts ---------------------------------------------------------------

    def org_facts(self, *, now: datetime, window_days: int = 90) -> dict[str, Any]:
        """Organisation facts for :func:`goldenpath.insights.maturity.assess_maturity` and
        :func:`goldenpath.insights.platform_metrics.platform_metrics`::

            {now, window: {start, end, days}, production,
             services: [{ref, name, owner, ownerExists, createdAt (catalog or scaffolder,
                         earlier), firstProductionDeployAt, lastProductionDeployAt,
                         fromTemplate, template, onLatestTemplate, standardPipeline,
                         techdocs, oncall, sloDefined}],
             developers: [{user, firstSeenAt, firstDeployAt}],
             requests: {resourceClaims, environments, secretRotations, total,
                        approvalRequired},
             recoveries: [seconds from a failed production deployment to the service's next
                          successful one, for failures inside the window]}

        Times are aware datetimes. Callers add ``incidents``, ``doraLevel``,
        ``scorecardCoverage``, ``scheduledRules`` and ``survey`` (see those modules).
        """
        if window_days < 1:
            raise InvalidInput(f"window_days {window_days} must be at least 1")
        start = now - timedelta(days=window_days)
        docs = self.collect(now=now, needs=("owner", "deploy", "pipeline", "slo", "template"))
        created = q.catalog_created(self.engine)
        services = []
        for ref, doc in sorted(docs.items()):
            scaffolded = doc["template"]["createdAt"]
            born = [t for t in (created.get(ref), _parse(scaffolded)) if t is not None]
            services.append(
                {
                    "ref": ref,
                    "name": (doc.get("metadata") or {}).get("name"),
                    "owner": doc["owner"]["ref"],
                    "ownerExists": doc["owner"]["exists"],
                    "createdAt": min(born) if born else None,
                    "firstProductionDeployAt": _parse(doc["deploy"]["firstSuccessAt"]),
                    "lastProductionDeployAt": _parse(doc["deploy"]["lastSuccessAt"]),
                    "fromTemplate": doc["template"]["ref"] is not None,
                    "template": doc["template"]["name"],
                    "onLatestTemplate": doc["template"]["latest"] is True,
                    "standardPipeline": doc["pipeline"]["standard"],
                    "techdocs": doc["docs"]["techdocs"],
                    "oncall": doc["oncall"] is not None,
                    "sloDefined": doc["slo"]["defined"],
                }
            )
        seen = q.first_seen_users(self.engine)
        deploys = q.first_deploys_by_user(self.engine)
        developers = [
            {"user": user, "firstSeenAt": at, "firstDeployAt": deploys.get(user)}
            for user, at in sorted(seen.items())
        ]
        requests: dict[str, int] = q.request_counts(self.engine, start)
        requests["total"] = sum(requests.values())
        requests["approvalRequired"] = q.approval_decisions(self.engine, start)
        return {
            "now": now,
            "window": {"start": start, "end": now, "days": window_days},
            "production": self.production,
            "services": services,
            "developers": developers,
            "requests": requests,
            "recoveries": _recoveries(q.production_runs(self.engine, self.production, start)),
        }


def _oncall(annotations: Mapping[str, Any]) -> str | None:
    for key, value in annotations.items():
        if value and ("pagerduty" in key or "opsgenie" in key):
            for prefix, name in _ONCALL:
                if key.startswith(prefix):
                    return name
    return None


def _template_ref(annotations: Mapping[str, Any]) -> str | None:
    name = annotations.get("goldenpath.dev/golden-path") or annotations.get(
        "backstage.io/source-template"
    )
    if not name:
        return None
    try:
        return str(parse_entity_ref(str(name), default_kind="template")).lower()
    except InvalidInput:
        return None


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _recoveries(runs: Sequence[tuple[str, str, datetime]]) -> list[float]:
    """Seconds from each failed run to the same service's next successful run (in order)."""
    failed_at: dict[str, datetime] = {}
    found: list[float] = []
    for service, state, at in runs:
        if state == "failed":
            failed_at.setdefault(service, at)
        elif service in failed_at:
            found.append((at - failed_at.pop(service)).total_seconds())
    return found


def collect_facts(
    services: Any, *, now: datetime, entity_refs: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Fact documents (see the module doc) using a services bundle with ``catalog``,
    ``engine`` and ``settings`` attributes (``goldenpath.api.deps.Services``)."""
    collector = FactCollector(
        catalog=services.catalog,
        engine=services.engine,
        settings=getattr(services, "settings", None),
    )
    return collector.collect(now=now.astimezone(UTC), entity_refs=entity_refs)
