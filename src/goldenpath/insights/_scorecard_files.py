"""Scorecard definitions: the dataclasses and the YAML loader (private to
:mod:`goldenpath.insights.scorecards`, which re-exports the public names).

Validation happens once, here, on load; every error is an ``InvalidInput`` whose message
starts with the file and names the scorecard, the rule id, the field and the fix.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from goldenpath.errors import InvalidInput
from goldenpath.insights import _rules
from goldenpath.insights._rules import Check

__all__ = [
    "API_VERSION",
    "BUILTIN_DIR",
    "Rule",
    "Scorecard",
    "day",
    "load_scorecards",
    "parse_scorecard",
    "rule_effective",
]

BUILTIN_DIR = Path(__file__).with_name("builtin") / "scorecards"
API_VERSION = "goldenpath.dev/v1"
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_RULE_KEYS = {"id", "title", "description", "level", "check", "effectiveFrom"}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``level`` is the level it gates; ``effective_from`` (UTC midnight of that
    date) is when it starts being enforced (None: always)."""

    id: str
    title: str
    level: str
    check: Check
    description: str = ""
    effective_from: datetime | None = None


@dataclass(frozen=True, slots=True)
class Scorecard:
    """A parsed scorecard. ``filter``: dotted fact path → accepted values (lower-cased
    strings, compared case-insensitively); ``source``: the file it came from."""

    name: str
    title: str
    description: str
    filter: Mapping[str, tuple[Any, ...]]
    levels: tuple[str, ...]
    rules: tuple[Rule, ...]
    source: str

    def applies_to(self, doc: Mapping[str, Any]) -> bool:
        """True when the fact document ``doc`` matches every filter key."""
        for path, accepted in self.filter.items():
            value = _rules.resolve(doc, path)
            values = value if isinstance(value, list) else [value]
            if not any(_fold(v) in accepted for v in values):
                return False
        return True

    def fact_roots(self) -> set[str]:
        """The first segments of every fact path the rules and filter read (what to collect)."""
        roots = {path.split(".", 1)[0] for path in self.filter}
        for rule in self.rules:
            roots |= _roots(rule.check)
        return roots

    def to_dict(self) -> dict[str, Any]:
        """``{name, title, description, source, filter, levels, rules:[{id, title, level,
        description, effectiveFrom}]}`` for the API."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "filter": {k: list(v) for k, v in self.filter.items()},
            "levels": list(self.levels),
            "rules": [
                {
                    "id": r.id,
                    "title": r.title,
                    "level": r.level,
                    "description": r.description,
                    "effectiveFrom": day(r.effective_from),
                }
                for r in self.rules
            ],
        }


def _roots(check: Check) -> set[str]:
    if check.children:
        return set().union(*(_roots(c) for c in check.children))
    return {check.fact.split(".", 1)[0]} if check.fact else set()


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def day(value: datetime | None) -> str | None:
    return None if value is None else value.date().isoformat()


def rule_effective(rule: Rule, now: datetime) -> bool:
    """True when ``rule`` is enforced at ``now`` (no ``effectiveFrom``, or it has come)."""
    return rule.effective_from is None or now >= rule.effective_from


# --- loading ------------------------------------------------------------------------------


def _bad(source: str, where: str, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"{source}: {where}: {message}", details={"file": source, **details})


def _effective_from(raw: Any, source: str, where: str) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    if isinstance(raw, str):
        try:
            return _effective_from(date.fromisoformat(raw), source, where)
        except ValueError:
            pass
    raise _bad(
        source,
        f"{where}.effectiveFrom",
        f"{raw!r} is not a date; write it as YYYY-MM-DD (e.g. 2027-01-01)",
        field="effectiveFrom",
    )


def _parse_rule(raw: Any, i: int, levels: Sequence[str], name: str, source: str) -> Rule:
    where = f"scorecard {name}: spec.rules[{i}]"
    if not isinstance(raw, Mapping):
        raise _bad(source, where, "each rule must be a mapping with id, level and check")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _NAME.match(rule_id):
        raise _bad(
            source,
            f"{where}.id",
            f"rule id {rule_id!r} must be a lower-case name like has-owner",
            field="id",
        )
    where = f"scorecard {name}: rule {rule_id}"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise _bad(
            source,
            f"{where}: {unknown[0]}",
            f"unknown key; a rule has {', '.join(sorted(_RULE_KEYS))}",
            rule=rule_id,
            field=unknown[0],
        )
    level = raw.get("level")
    if level not in levels:
        raise _bad(
            source,
            f"{where}: level",
            f"{level!r} is not one of spec.levels ({', '.join(levels)}); use one of them",
            rule=rule_id,
            field="level",
        )
    try:
        check = _rules.parse_check(raw.get("check"))
    except _rules.CheckError as e:
        raise _bad(source, f"{where}: {e.field}", e.message, rule=rule_id, field=e.field) from e
    return Rule(
        id=rule_id,
        title=str(raw.get("title") or rule_id),
        level=str(level),
        check=check,
        description=str(raw.get("description") or ""),
        effective_from=_effective_from(raw.get("effectiveFrom"), source, where),
    )


def _parse_levels(raw: Any, name: str, source: str) -> tuple[str, ...]:
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(x, str) and x for x in raw)
        or len(set(raw)) != len(raw)
    ):
        raise _bad(
            source,
            f"scorecard {name}: spec.levels",
            "must be a non-empty list of distinct level names, lowest first "
            "(e.g. [Bronze, Silver, Gold])",
            field="spec.levels",
        )
    return tuple(raw)


def _parse_filter(raw: Any, name: str, source: str) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {"kind": ("component",)}
    if not isinstance(raw, Mapping) or not raw:
        raise _bad(
            source,
            f"scorecard {name}: spec.filter",
            "must be a mapping of fact path → value or list of values "
            "(e.g. {kind: component, spec.type: service})",
            field="spec.filter",
        )
    return {
        str(k): tuple(_fold(x) for x in (v if isinstance(v, list) else [v])) for k, v in raw.items()
    }


def parse_scorecard(doc: Any, source: str) -> Scorecard:
    """Validate one YAML document into a :class:`Scorecard`.

    Raises:
        InvalidInput: the message starts with ``source`` and names the scorecard, the rule id
            and the field, and says how to fix it; ``details`` has ``file``/``rule``/``field``.
    """
    if not isinstance(doc, Mapping):
        raise _bad(source, "document", "a scorecard must be a mapping (apiVersion, kind, ...)")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Scorecard":
        raise _bad(
            source,
            "apiVersion/kind",
            f"expected apiVersion: {API_VERSION} and kind: Scorecard, got "
            f"{doc.get('apiVersion')!r}/{doc.get('kind')!r}",
            field="kind",
        )
    raw_meta = doc.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(
            source,
            "metadata.name",
            f"{name!r} must be a lower-case name like production-readiness",
            field="metadata.name",
        )
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise _bad(source, f"scorecard {name}: spec", "missing; add spec.levels and spec.rules")
    levels = _parse_levels(spec.get("levels"), name, source)
    raw_rules = spec.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _bad(source, f"scorecard {name}: spec.rules", "must be a non-empty list of rules")
    rules = tuple(_parse_rule(r, i, levels, name, source) for i, r in enumerate(raw_rules))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise _bad(
                source,
                f"scorecard {name}: rule {rule.id}",
                "the id is used twice; give each rule its own id",
                rule=rule.id,
                field="id",
            )
        seen.add(rule.id)
    return Scorecard(
        name=name,
        title=str(meta.get("title") or name),
        description=str(meta.get("description") or ""),
        filter=_parse_filter(spec.get("filter"), name, source),
        levels=levels,
        rules=rules,
        source=source,
    )


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: parsed files by path, kept while their size and mtime are unchanged
_PARSED: dict[str, tuple[tuple[int, int], list[Scorecard]]] = {}
_PARSED_LOCK = threading.Lock()


def _read_file(path: Path) -> list[Scorecard]:
    stat = path.stat()
    stamp = (stat.st_size, stat.st_mtime_ns)
    with _PARSED_LOCK:
        cached = _PARSED.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidInput(
            f"{path}: not valid YAML ({e}); fix the syntax", details={"file": str(path)}
        ) from e
    cards = [parse_scorecard(doc, str(path)) for doc in docs]
    with _PARSED_LOCK:
        _PARSED[str(path)] = (stamp, cards)
    return cards


def load_scorecards(directories: Iterable[Path | None]) -> list[Scorecard]:
    """Scorecards from ``*.yaml``/``*.yml`` files of each directory in order (missing ones are
    skipped); a later directory's scorecard of the same name replaces an earlier one. Result
    in name order.

    Raises:
        InvalidInput: a malformed file (see :func:`parse_scorecard`), or one name defined twice
            in the same directory.
    """
    found: dict[str, Scorecard] = {}
    for directory in directories:
        if directory is None or not directory.is_dir():
            continue
        here: dict[str, Scorecard] = {}
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        for path in files:
            for card in _read_file(path):
                if card.name in here:
                    raise _bad(
                        str(path),
                        f"scorecard {card.name}",
                        f"also defined in {here[card.name].source}; keep one of them",
                        field="metadata.name",
                    )
                here[card.name] = card
        found.update(here)
    return [found[k] for k in sorted(found)]
