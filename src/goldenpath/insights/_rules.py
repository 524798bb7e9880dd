"""The scorecard rule language: checks over a per-entity fact document (private).

A check is a mapping ``{fact, op, value}`` (or ``{allOf: [...]}`` / ``{anyOf: [...]}``)
evaluated against a fact document (the entity JSON plus platform facts, see
:mod:`goldenpath.insights.facts`). ``fact`` is a dotted path; at each mapping a key equal to the
next segment is tried first, then keys made of several segments (longest first), so
annotation keys that contain dots resolve (``metadata.annotations.backstage.io/techdocs-ref``);
a number segment indexes a list.

Operators (``docs/insights.md`` is the user reference):

=========  ===========================================================================
eq, ne     equal / not equal (strings compared as written; a missing fact is null)
gt … lte   numbers, or ISO dates/datetimes compared as instants; missing → fails
exists     the fact is present and not null (``value: false``: it must be absent)
in         the fact is one of ``value`` (a list)
matches    the fact is a string matching the regular expression ``value`` (``re.search``)
contains   a list holding ``value``, a string holding the substring, a mapping with the key
any, all   the fact is a list; ``where`` (a check relative to each item, with ``field``
           instead of ``fact``; omitted = the item itself) holds for one / every item;
           ``all`` fails on an empty or missing list
=========  ===========================================================================

:func:`parse_check` validates once (on load); :func:`evaluate` trusts its input and never
raises: a failing check returns a message saying what was found.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["OPS", "Check", "CheckError", "evaluate", "explain", "parse_check", "resolve", "test"]

#: every operator of the rule language
OPS: tuple[str, ...] = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "in",
    "matches",
    "contains",
    "any",
    "all",
)
_ORDER = ("gt", "gte", "lt", "lte")
_MISSING = object()


class CheckError(ValueError):
    """A malformed check: ``field`` is the offending key (dotted, within the check)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Check:
    """One parsed check. ``op`` ``allOf``/``anyOf`` combine ``children``; ``where`` holds the
    item checks of ``any``/``all``; ``pattern`` is the compiled regex of ``matches``."""

    op: str
    fact: str = ""
    value: Any = None
    where: tuple[Check, ...] = ()
    children: tuple[Check, ...] = ()
    pattern: re.Pattern[str] | None = None


def parse_check(raw: Any, *, where: str = "check", item: bool = False) -> Check:
    """Validate ``raw`` into a :class:`Check`.

    ``where`` is the dotted location used in error fields; ``item``: inside a ``where``
    clause, where ``field`` (relative to the list item, optional) replaces ``fact``.

    Raises:
        CheckError: naming the field and the fix (unknown op, missing fact, bad regex, a
            non-list ``in`` value, ``any``/``all`` without ``where``…).
    """
    if not isinstance(raw, Mapping):
        raise CheckError(
            where, f"{where} must be a mapping like {{fact: owner.exists, op: eq, value: true}}"
        )
    for combo in ("allOf", "anyOf"):
        if combo in raw:
            items = raw[combo]
            if not isinstance(items, list) or not items:
                raise CheckError(
                    f"{where}.{combo}", f"{where}.{combo} must be a non-empty list of checks"
                )
            children = tuple(
                parse_check(child, where=f"{where}.{combo}[{i}]", item=item)
                for i, child in enumerate(items)
            )
            return Check(op=combo, children=children)
    key = "field" if item else "fact"
    fact = raw.get(key, "" if item else None)
    if fact is None or not isinstance(fact, str) or (not item and not fact):
        raise CheckError(
            f"{where}.{key}",
            f"{where}.{key} is missing; name a fact by its dotted path (e.g. owner.exists, "
            "metadata.description)",
        )
    unknown = sorted(set(raw) - {key, "op", "value", "where"})
    if unknown:
        raise CheckError(
            f"{where}.{unknown[0]}",
            f"{where}: unknown key {unknown[0]!r}; a check has {key}, op, value and (for "
            "any/all) where",
        )
    op = raw.get("op", "exists" if "value" not in raw else "eq")
    if op not in OPS:
        raise CheckError(
            f"{where}.op", f"{where}.op {op!r} is unknown; use one of {', '.join(OPS)}"
        )
    value = raw.get("value", True if op == "exists" else None)
    return _parse_op(op, fact, value, raw.get("where"), where)


def _parse_op(op: str, fact: str, value: Any, where_raw: Any, where: str) -> Check:
    if op in ("any", "all"):
        if where_raw is None:
            return Check(op=op, fact=fact, where=(Check(op="exists", value=True),))
        clauses = where_raw if isinstance(where_raw, list) else [where_raw]
        parsed = tuple(
            parse_check(clause, where=f"{where}.where[{i}]", item=True)
            for i, clause in enumerate(clauses)
        )
        return Check(op=op, fact=fact, where=parsed)
    if where_raw is not None:
        raise CheckError(f"{where}.where", f"{where}.where is only allowed with op any or all")
    if op == "in" and not isinstance(value, list):
        raise CheckError(f"{where}.value", f"{where}.value must be a list for op in (e.g. [a, b])")
    if op == "exists" and not isinstance(value, bool):
        raise CheckError(f"{where}.value", f"{where}.value must be true or false for op exists")
    if op in _ORDER and _order_key(value) is None:
        raise CheckError(
            f"{where}.value",
            f"{where}.value must be a number or an ISO date for op {op} (got {value!r})",
        )
    pattern = None
    if op == "matches":
        if not isinstance(value, str):
            raise CheckError(f"{where}.value", f"{where}.value must be a regular expression string")
        try:
            pattern = re.compile(value)
        except re.error as e:
            raise CheckError(
                f"{where}.value", f"{where}.value is not a valid regular expression: {e}"
            ) from e
    return Check(op=op, fact=fact, value=value, pattern=pattern)


def resolve(doc: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``doc`` (None when absent; ``""`` = ``doc`` itself)."""
    parts = _split(path)
    here = doc
    for part in parts:  # fast path: plain dicts, one segment per key
        if type(here) is dict and part in here:
            here = here[part]
        else:
            found = _resolve(doc, parts)
            return None if found is _MISSING else found
    return here


@functools.lru_cache(maxsize=1024)
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split(".")) if path else ()


def _resolve(doc: Any, parts: Sequence[str]) -> Any:
    if not parts:
        return doc
    if type(doc) is dict or isinstance(doc, Mapping):
        head = parts[0]
        if head in doc:  # the common case: one segment is one key
            found = _resolve(doc[head], parts[1:])
            if found is not _MISSING:
                return found
        for cut in range(len(parts), 1, -1):
            key = ".".join(parts[:cut])
            if key in doc:
                found = _resolve(doc[key], parts[cut:])
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(doc, list) and parts[0].isdigit():
        index = int(parts[0])
        return _resolve(doc[index], parts[1:]) if index < len(doc) else _MISSING
    return _MISSING


def _order_key(value: Any) -> float | None:
    """A comparable number for gt/lt: numbers as is, dates/datetimes as epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, str):
        try:
            return _order_key(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def evaluate(check: Check, doc: Any) -> tuple[bool, str]:
    """``(passed, message)`` of ``check`` on ``doc``; the message says what was found."""
    passed, found = test(check, doc)
    return passed, explain(check, passed, found)


def test(check: Check, doc: Any) -> tuple[bool, Any]:
    """``(passed, found)``: the verdict, and what :func:`explain` needs to word it (the fact's
    value; for any/all the matching and total item counts; for allOf/anyOf the deciding
    child's index and its ``found``). Cheap: no message is formatted."""
    if check.op == "allOf":
        for i, child in enumerate(check.children):
            ok, found = test(child, doc)
            if not ok:
                return False, (i, found)
        return True, None
    if check.op == "anyOf":
        misses = []
        for i, child in enumerate(check.children):
            ok, found = test(child, doc)
            if ok:
                return True, (i, found)
            misses.append(found)
        return False, misses
    value = resolve(doc, check.fact)
    return _TESTS[check.op](check, value), value


def explain(check: Check, passed: bool, found: Any) -> str:
    """The message of a :func:`test` result: what was found and, when failing, what was
    expected (e.g. ``deploy.daysSinceLast is 41.2, expected <= 30``)."""
    if check.op == "allOf":
        if passed:
            return "all conditions hold"
        i, inner = found
        return explain(check.children[i], False, inner)
    if check.op == "anyOf":
        if passed:
            i, inner = found
            return explain(check.children[i], True, inner)
        return "; ".join(explain(c, False, f) for c, f in zip(check.children, found, strict=True))
    return _explain_one(check, passed, found)


def _show(check: Check) -> str:
    return check.fact or "the item"


def _plain(value: Any) -> Any:
    """Dates compare equal to their ISO strings (YAML reads 2027-01-01 as a date)."""
    return value.isoformat() if isinstance(value, date) else value


def _test_order(check: Check, value: Any) -> bool:
    have, limit = _order_key(value), _order_key(check.value)
    if have is None or limit is None:
        return False
    op = check.op
    if op == "gt":
        return have > limit
    if op == "gte":
        return have >= limit
    if op == "lt":
        return have < limit
    return have <= limit


def _test_contains(check: Check, value: Any) -> bool:
    want = check.value
    if isinstance(value, list):
        return _plain(want) in [_plain(v) for v in value]
    if isinstance(value, str):
        return isinstance(want, str) and want in value
    if isinstance(value, Mapping):
        return want in value
    return False


def _items(check: Check, value: Any) -> list[bool]:
    return [all(test(w, item)[0] for w in check.where) for item in value]


def _test_any(check: Check, value: Any) -> bool:
    return isinstance(value, list) and any(_items(check, value))


def _test_all(check: Check, value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_items(check, value))


def _test_matches(check: Check, value: Any) -> bool:
    assert check.pattern is not None
    return isinstance(value, str) and check.pattern.search(value) is not None


_TESTS: dict[str, Callable[[Check, Any], bool]] = {
    "exists": lambda c, v: (v is not None) == c.value,
    "eq": lambda c, v: v == c.value or _plain(v) == _plain(c.value),
    "ne": lambda c, v: not (v == c.value or _plain(v) == _plain(c.value)),
    "gt": _test_order,
    "gte": _test_order,
    "lt": _test_order,
    "lte": _test_order,
    "in": lambda c, v: _plain(v) in [_plain(x) for x in c.value],
    "matches": _test_matches,
    "contains": _test_contains,
    "any": _test_any,
    "all": _test_all,
}
_SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _explain_one(check: Check, ok: bool, value: Any) -> str:
    op, want, name = check.op, check.value, _show(check)
    if op == "exists":
        return f"{name} is {'set' if value is not None else 'missing'}"
    if op in _SYMBOL:
        if _order_key(value) is None:
            return f"{name} is {value!r}, not a number or date to compare with {want!r}"
        return f"{name} is {value!r}" + ("" if ok else f", expected {_SYMBOL[op]} {want!r}")
    if op == "contains":
        if not isinstance(value, list | str | Mapping):
            return f"{name} is {value!r}, not a list, string or mapping holding {want!r}"
        return f"{name} {'contains' if ok else 'does not contain'} {want!r}"
    if op in ("any", "all"):
        if not isinstance(value, list):
            return f"{name} is {'missing' if value is None else 'not a list'}"
        hits = sum(_items(check, value))
        expected = "" if ok else (", expected one" if op == "any" else ", expected all")
        return f"{hits} of {len(value)} items of {name} match{expected}"
    expected = {
        "eq": f", expected {want!r}",
        "ne": f", expected not {want!r}",
        "in": f", expected one of {want!r}",
        "matches": f", expected to match {want!r}",
    }[op]
    return f"{name} is {value!r}" + ("" if ok else expected)
