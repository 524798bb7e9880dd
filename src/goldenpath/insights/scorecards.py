"""Scorecards: YAML definitions with ordered levels and rules over entity facts (issue 8).

Semantics follow Port / OpsLevel: a scorecard applies to the entities its ``spec.filter``
selects; its ``levels`` are ordered, lowest first; each rule belongs to one level; an entity
*holds* a level only when every enforced rule of that level **and of every lower level**
passes (levels are cumulative), and its level is the highest one it holds. A rule with
``effectiveFrom`` (a date) is evaluated and shown before that date but not enforced, so teams
see what is coming. Rules are checks of the rule language in :mod:`goldenpath.insights._rules`
over the fact documents of :mod:`goldenpath.insights.facts`.

Definitions come from the built-in directory (``insights/builtin/scorecards``) and then
``settings.insights.scorecards_dir`` (default ``<home>/scorecards``); a scorecard with the same
``metadata.name`` in the later directory replaces the built-in one. The file format and every
operator are documented in ``docs/insights.md``::

    apiVersion: goldenpath.dev/v1
    kind: Scorecard
    metadata: {name: production-readiness, title: Production readiness}
    spec:
      filter: {kind: component, spec.type: service}
      levels: [Bronze, Silver, Gold]
      rules:
        - id: has-owner
          title: Has an owner that exists
          level: Bronze
          check: {fact: owner.exists, op: eq, value: true}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from goldenpath.errors import NotFound
from goldenpath.insights import _rules
from goldenpath.insights._scorecard_files import (
    BUILTIN_DIR,
    Rule,
    Scorecard,
    day,
    load_scorecards,
    parse_scorecard,
    rule_effective,
)

__all__ = [
    "BUILTIN_DIR",
    "FactSource",
    "LevelResult",
    "Rule",
    "RuleResult",
    "Scorecard",
    "ScorecardResult",
    "ScorecardService",
    "load_scorecards",
    "parse_scorecard",
    "rule_effective",
    "score",
    "summarize",
]

# --- results ------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built 10^5 times per evaluation, never changed
class RuleResult:
    """One rule on one entity: ``enforced`` False for a scheduled rule not yet in effect.
    ``message`` (what was found, and what was expected when failing) is worded on first
    read, so scoring thousands of entities formats no text nobody reads."""

    rule: Rule
    passed: bool
    found: Any
    enforced: bool

    @property
    def id(self) -> str:
        """The rule id."""
        return self.rule.id

    @property
    def title(self) -> str:
        """The rule title."""
        return self.rule.title

    @property
    def effective_from(self) -> datetime | None:
        """When the rule starts being enforced (None: always)."""
        return self.rule.effective_from

    @property
    def message(self) -> str:
        """What was found, e.g. ``deploy.daysSinceLast is 41.2, expected <= 30``."""
        return _rules.explain(self.rule.check, self.passed, self.found)

    def to_dict(self) -> dict[str, Any]:
        """``{id, title, passed, message, effectiveFrom, enforced}``."""
        return {
            "id": self.id,
            "title": self.title,
            "passed": self.passed,
            "message": self.message,
            "effectiveFrom": day(self.effective_from),
            "enforced": self.enforced,
        }


@dataclass(slots=True)
class LevelResult:
    """``passed``: this level's own enforced rules pass; ``held``: it and every lower level
    pass (what holding a level means)."""

    name: str
    passed: bool
    held: bool
    rules: tuple[RuleResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{name, passed, held, rules:[RuleResult]}``."""
        return {
            "name": self.name,
            "passed": self.passed,
            "held": self.held,
            "rules": [r.to_dict() for r in self.rules],
        }


@dataclass(frozen=True, slots=True)
class ScorecardResult:
    """One scorecard on one entity. ``level``: the highest level held (None: not even the
    lowest); ``next_level``: the lowest level not held; ``missing``: titles of the enforced
    rules of ``next_level`` that fail (every lower level passes by construction)."""

    entity_ref: str
    scorecard: str
    level: str | None
    levels: tuple[LevelResult, ...]
    next_level: str | None
    missing: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """``{entityRef, scorecard, level, levels, nextLevel, missing}`` (contract of issue 8)."""
        return {
            "entityRef": self.entity_ref,
            "scorecard": self.scorecard,
            "level": self.level,
            "levels": [lv.to_dict() for lv in self.levels],
            "nextLevel": self.next_level,
            "missing": list(self.missing),
        }


def score(
    card: Scorecard, entity_ref: str, doc: Mapping[str, Any], now: datetime
) -> ScorecardResult:
    """Evaluate every rule of ``card`` on the fact document ``doc`` at ``now`` (pure)."""
    return _Scorer(card, now)(entity_ref, doc)


class _Scorer:
    """:func:`score` with the per-call work (rules by level, enforcement at ``now``) done once
    for many entities."""

    def __init__(self, card: Scorecard, now: datetime) -> None:
        self.card = card
        self.plan = [
            (name, [(rule, rule_effective(rule, now)) for rule in card.rules if rule.level == name])
            for name in card.levels
        ]

    def __call__(self, entity_ref: str, doc: Mapping[str, Any]) -> ScorecardResult:
        levels: list[LevelResult] = []
        held_so_far = True
        level: str | None = None
        next_level: str | None = None
        missing: tuple[str, ...] = ()
        for name, rules in self.plan:
            results = []
            for rule, enforced in rules:
                passed, found = _rules.test(rule.check, doc)
                results.append(RuleResult(rule, passed, found, enforced))
            passed = all(r.passed for r in results if r.enforced)
            held_so_far = held_so_far and passed
            levels.append(LevelResult(name, passed, held_so_far, tuple(results)))
            if held_so_far:
                level = name
            elif next_level is None:
                next_level = name
                missing = tuple(r.title for r in results if r.enforced and not r.passed)
        return ScorecardResult(
            entity_ref, self.card.name, level, tuple(levels), next_level, missing
        )


# --- service ------------------------------------------------------------------------------


class FactSource(Protocol):
    """What the service needs from :class:`goldenpath.insights.facts.FactCollector`."""

    def collect(
        self,
        *,
        now: datetime,
        entity_refs: Sequence[str] | None = None,
        needs: Iterable[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Fact documents by lower-case entity ref (None = every Component)."""
        ...


class ScorecardService:
    """Scorecard use cases: definitions, evaluation, summaries.

    Args:
        catalog: the :class:`goldenpath.catalog.service.CatalogService` (kept for callers;
            facts are read through ``facts``).
        facts: a :class:`goldenpath.insights.facts.FactCollector` (or any :class:`FactSource`).
        settings: the whole settings tree; ``insights.scorecards_dir`` or ``<home>/scorecards``
            is the platform team's directory.
        directories: explicit directories instead (built-in first), for tests and tools.
        clock: aware-UTC "now" (default wall clock).
    """

    def __init__(
        self,
        *,
        catalog: Any,
        facts: FactSource,
        settings: Any = None,
        directories: Sequence[Path] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.catalog = catalog
        self.facts = facts
        if directories is None:
            user_dir = None
            if settings is not None:
                user_dir = settings.insights.scorecards_dir or Path(settings.home) / "scorecards"
            directories = [BUILTIN_DIR] + ([Path(user_dir)] if user_dir else [])
        self.directories = list(directories)
        self.clock = clock or (lambda: datetime.now(UTC))

    def definitions(self) -> list[Scorecard]:
        """Every scorecard (re-read from disk; a few small files), in name order.

        Raises:
            InvalidInput: a malformed file (names the file, rule id, field and fix).
        """
        return load_scorecards(self.directories)

    def get(self, name: str) -> Scorecard:
        """Scorecard ``name``.

        Raises:
            NotFound: listing the known names.
        """
        cards = self.definitions()
        for card in cards:
            if card.name == name:
                return card
        known = ", ".join(c.name for c in cards) or "none"
        raise NotFound(f"scorecard {name!r} does not exist; known: {known}")

    def evaluate(
        self,
        entity_ref: str | None = None,
        *,
        now: datetime | None = None,
        scorecard: str | None = None,
    ) -> list[ScorecardResult]:
        """Results of every scorecard that applies, for ``entity_ref`` (any kind; NotFound
        when the catalog lacks it) or, when None, for every Component. ``scorecard`` limits
        it to one definition. Ordered by entity ref, then scorecard name.

        Raises:
            NotFound: unknown entity or scorecard.
            InvalidInput: a malformed scorecard file or entity ref.
        """
        moment = _utc(now) if now is not None else self.clock()
        cards = [self.get(scorecard)] if scorecard else self.definitions()
        needs: set[str] = set().union(*(c.fact_roots() for c in cards)) if cards else set()
        refs = None if entity_ref is None else [entity_ref]
        docs = self.facts.collect(now=moment, entity_refs=refs, needs=needs)
        scorers = [_Scorer(card, moment) for card in cards]
        results = []
        for ref in sorted(docs):
            doc = docs[ref]
            for scorer in scorers:
                if scorer.card.applies_to(doc):
                    results.append(scorer(ref, doc))
        return results

    def summary(
        self, scorecard: str | None = None, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """``{scorecard, title, levels: {<level>: n held as highest}, none: n, total}`` over
        every Component the scorecard applies to (default: the first definition).

        Raises:
            NotFound: unknown scorecard, or no scorecard is defined.
        """
        if scorecard is None:
            cards = self.definitions()
            if not cards:
                raise NotFound("no scorecard is defined; add one under <home>/scorecards")
            scorecard = _default_name(cards)
        card = self.get(scorecard)
        results = self.evaluate(now=now, scorecard=card.name)
        return summarize(card, results)


def _default_name(cards: Sequence[Scorecard]) -> str:
    names = [c.name for c in cards]
    return "production-readiness" if "production-readiness" in names else names[0]


def summarize(card: Scorecard, results: Sequence[ScorecardResult]) -> dict[str, Any]:
    """Counts of ``card``'s results by highest level held (:meth:`ScorecardService.summary`)."""
    levels = {name: 0 for name in card.levels}
    none = 0
    for result in results:
        if result.scorecard != card.name:
            continue
        if result.level is None:
            none += 1
        else:
            levels[result.level] += 1
    return {
        "scorecard": card.name,
        "title": card.title,
        "levels": levels,
        "none": none,
        "total": none + sum(levels.values()),
    }


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
