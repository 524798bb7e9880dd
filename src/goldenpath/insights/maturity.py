"""The platform maturity model of seed 001, assessed for the organisation from facts.

Seed 001 ("Platform Engineering: Building Internal Developer Platforms", *Maturity Model*):

1. **Ad hoc** — no platform team, each team manages their own infrastructure;
2. **Standardized** — shared CI/CD pipelines, basic templates, some documentation;
3. **Self-service** — developers can provision infrastructure without tickets;
4. **Optimized** — data-driven platform decisions, automated governance, high adoption;
5. **Product** — the platform has a roadmap, SLAs, user research, continuous improvement.

Each stage above the first has measurable criteria (:data:`STAGES`, thresholds documented
in ``docs/insights.md``); a stage is reached when its criteria hold **and** the previous stage
is reached, so the level is the highest consecutive stage. The result lists, per stage, the
evidence (criteria met) and what is missing, and for the next stage what to do.

Input: :meth:`goldenpath.insights.facts.FactCollector.org_facts` plus, from the insights
service, ``doraLevel`` (organisation DORA level or None), ``scorecardCoverage`` (share of
services holding at least the lowest level of the default scorecard, 0-1 or None),
``scheduledRules`` (count of scorecard rules with a future ``effectiveFrom``: the published
roadmap) and ``survey`` (``{responses, nps}`` of the developer survey in the window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["STAGES", "Criterion", "Stage", "assess_maturity", "org_shares"]

_DORA_RANK = {"low": 0, "medium": 1, "high": 2, "elite": 3}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One measurable condition: ``test`` reads the summary of :func:`org_shares`; ``shows``
    formats the evidence; ``missing`` says what to do when it fails."""

    name: str
    test: Callable[[Mapping[str, Any]], bool]
    shows: Callable[[Mapping[str, Any]], str]
    missing: str


@dataclass(frozen=True, slots=True)
class Stage:
    """A maturity stage of seed 001 with its criteria (none for Ad hoc)."""

    level: int
    name: str
    description: str
    criteria: tuple[Criterion, ...]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _at_least(key: str, share: float) -> Callable[[Mapping[str, Any]], bool]:
    return lambda s: s.get(key) is not None and s[key] >= share


def _share(key: str, label: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda s: f"{label}: {_pct(s.get(key))}"


STAGES: tuple[Stage, ...] = (
    Stage(1, "Ad hoc", "No platform team, each team manages their own infrastructure", ()),
    Stage(
        2,
        "Standardized",
        "Shared CI/CD pipelines, basic templates, some documentation",
        (
            Criterion(
                "owners",
                _at_least("owned", 0.8),
                _share("owned", "services with an owner"),
                "give at least 80% of services an owner that exists in the catalog",
            ),
            Criterion(
                "templates",
                _at_least("fromTemplate", 0.5),
                _share("fromTemplate", "services created from templates"),
                "create at least 50% of services from golden-path templates",
            ),
            Criterion(
                "pipelines",
                _at_least("standardPipeline", 0.5),
                _share("standardPipeline", "services on the standard pipeline"),
                "ship at least 50% of services through the platform pipeline",
            ),
            Criterion(
                "docs",
                _at_least("techdocs", 0.3),
                _share("techdocs", "services with docs"),
                "publish TechDocs for at least 30% of services",
            ),
        ),
    ),
    Stage(
        3,
        "Self-service",
        "Developers can provision infrastructure without tickets",
        (
            Criterion(
                "self-service",
                lambda s: s["requests"] > 0 and _at_least("selfService", 0.9)(s),
                lambda s: (
                    f"self-service rate: {_pct(s.get('selfService'))} of {s['requests']} requests"
                ),
                "fulfil at least 90% of infrastructure requests (claims, environments, "
                "rotations) with no approval step",
            ),
            Criterion(
                "platform-deploys",
                _at_least("deploying", 0.5),
                _share("deploying", "services deploying to production via the platform"),
                "have at least 50% of services deploy to production through the platform",
            ),
        ),
    ),
    Stage(
        4,
        "Optimized",
        "Data-driven platform decisions, automated governance, high adoption",
        (
            Criterion(
                "dora",
                lambda s: _DORA_RANK.get(s.get("doraLevel") or "", -1) >= 2,
                lambda s: f"DORA level: {s.get('doraLevel') or 'n/a'}",
                "reach DORA level high or elite organisation-wide",
            ),
            Criterion(
                "governance",
                _at_least("scorecardCoverage", 0.7),
                _share("scorecardCoverage", "services holding a scorecard level"),
                "have at least 70% of services hold the first scorecard level",
            ),
            Criterion(
                "adoption",
                _at_least("fromTemplate", 0.8),
                _share("fromTemplate", "golden-path adoption"),
                "create at least 80% of services from golden-path templates",
            ),
        ),
    ),
    Stage(
        5,
        "Product",
        "Platform has a roadmap, SLAs, user research, and continuous improvement",
        (
            Criterion(
                "user-research",
                lambda s: s["surveyResponses"] >= 10 and (s.get("nps") or -101) >= 20,
                lambda s: (
                    f"survey: {s['surveyResponses']} responses, NPS "
                    f"{s.get('nps') if s.get('nps') is not None else 'n/a'}"
                ),
                "collect at least 10 survey answers in the window with an NPS of 20+",
            ),
            Criterion(
                "roadmap",
                lambda s: s["scheduledRules"] > 0,
                lambda s: f"scheduled scorecard rules: {s['scheduledRules']}",
                "publish the roadmap as scorecard rules with a future effectiveFrom",
            ),
            Criterion(
                "slas",
                _at_least("slo", 0.8),
                _share("slo", "services with an SLO"),
                "declare SLOs for at least 80% of services",
            ),
            Criterion(
                "improvement",
                _at_least("latestTemplate", 0.7),
                _share("latestTemplate", "services on their template's latest version"),
                "keep at least 70% of services on their template's latest version",
            ),
        ),
    ),
)


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def org_shares(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The shares and counts the criteria read, from org facts (see the module doc)."""
    services: Sequence[Mapping[str, Any]] = facts.get("services") or ()
    total = len(services)

    def share(key: str) -> float | None:
        return _ratio(sum(1 for s in services if s.get(key)), total)

    requests = facts.get("requests") or {}
    asked = int(requests.get("total", 0))
    manual = min(int(requests.get("approvalRequired", 0)), asked)
    survey = facts.get("survey") or {}
    return {
        "services": total,
        "owned": share("ownerExists"),
        "fromTemplate": share("fromTemplate"),
        "standardPipeline": share("standardPipeline"),
        "techdocs": share("techdocs"),
        "deploying": share("firstProductionDeployAt"),
        "slo": share("sloDefined"),
        "latestTemplate": share("onLatestTemplate"),
        "requests": asked,
        "selfService": _ratio(asked - manual, asked),
        "doraLevel": facts.get("doraLevel"),
        "scorecardCoverage": facts.get("scorecardCoverage"),
        "scheduledRules": int(facts.get("scheduledRules") or 0),
        "surveyResponses": int(survey.get("responses") or 0),
        "nps": survey.get("nps"),
    }


def assess_maturity(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The organisation's stage: ``{level, levelName, stages: [{level, name, description,
    reached, evidence: [...], missing: [...]}], next: {name, missing} | None, summary}``.

    ``level`` is the highest stage reached with every stage below it reached (Ad hoc, 1, is
    always reached); ``next`` is the stage after it with the criteria still unmet.
    """
    summary = org_shares(facts)
    stages = []
    level, name, still = 1, STAGES[0].name, True
    for stage in STAGES:
        met = [c for c in stage.criteria if c.test(summary)]
        unmet = [c for c in stage.criteria if not c.test(summary)]
        reached = still and not unmet
        still = reached
        if reached:
            level, name = stage.level, stage.name
        stages.append(
            {
                "level": stage.level,
                "name": stage.name,
                "description": stage.description,
                "reached": reached,
                "evidence": [c.shows(summary) for c in met]
                or ([f"{summary['services']} services in the catalog"] if stage.level == 1 else []),
                "missing": [c.missing for c in unmet],
            }
        )
    following = stages[level] if level < len(stages) else None
    return {
        "level": level,
        "levelName": name,
        "stages": stages,
        "next": None
        if following is None
        else {"name": following["name"], "missing": following["missing"]},
        "summary": summary,
    }
