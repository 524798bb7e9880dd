"""Small typed checks over parsed YAML values; each failure names file, line and field.

A :class:`Ctx` knows the file and where each field is written; the check functions take a
value and its path and return the value converted (or raise :class:`WorkloadError`).
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from goldenpath.workloads._yaml import Path_, dotted
from goldenpath.workloads.errors import WorkloadError

__all__ = [
    "DNS_LABEL",
    "Ctx",
    "boolean",
    "command",
    "describe",
    "duration",
    "integer",
    "mapping",
    "nearest",
    "number",
    "string",
    "string_list",
]

DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Ctx:
    """Where values come from: ``source`` (file name) and ``line_of`` (path → line or None)."""

    source: str
    line_of: Callable[[Path_], int | None] = lambda _path: None

    def fail(self, path: Path_, reason: str) -> WorkloadError:
        """A :class:`WorkloadError` at ``path`` (line looked up) with ``reason``."""
        return WorkloadError(
            reason, source=self.source, line=self.line_of(path), field=dotted(path)
        )


def describe(value: Any) -> str:
    """The YAML/JSON type name of ``value`` as a user reads it (``"a list"``, ``"null"``).

    Never the value itself: it may be a secret (an env variable)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def nearest(key: str, allowed: Collection[str]) -> str | None:
    """The allowed key ``key`` was most likely meant to be (case/underscore-insensitive first)."""

    def norm(s: str) -> str:
        return s.replace("_", "").replace("-", "").lower()

    for candidate in allowed:
        if norm(candidate) == norm(key):
            return candidate
    found = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return found[0] if found else None


def mapping(
    ctx: Ctx,
    value: Any,
    path: Path_,
    allowed: Collection[str] | None = None,
    *,
    required: Collection[str] = (),
    hints: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Check ``value`` is a mapping with only ``allowed`` keys (None = any) and ``required`` ones.

    An unknown key names the nearest valid key (``did you mean 'replicas'?``) or, from
    ``hints``, where the key belongs. Returns the mapping.
    """
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping, got {describe(value)}")
    if allowed is not None:
        for key in value:
            if key in allowed:
                continue
            if hints and key in hints:
                raise ctx.fail((*path, key), f"unknown key {key!r}; {hints[key]}")
            guess = nearest(key, allowed)
            fix = f"did you mean {guess!r}?" if guess else f"valid keys: {', '.join(allowed)}"
            raise ctx.fail((*path, key), f"unknown key {key!r}; {fix}")
    for key in required:
        if key not in value:
            raise ctx.fail(path, f"missing required key {key!r}")
    return value


def string(
    ctx: Ctx,
    value: Any,
    path: Path_,
    *,
    pattern: re.Pattern[str] | None = None,
    expected: str = "",
    choices: Collection[str] | None = None,
) -> str:
    """A string; with ``pattern`` it must match (``expected`` describes the form)."""
    if not isinstance(value, str):
        raise ctx.fail(path, f"expected a string, got {describe(value)}")
    if choices is not None and value not in choices:
        guess = nearest(value, choices)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ctx.fail(path, f"{value!r} is not one of {', '.join(choices)}{hint}")
    if pattern is not None and not pattern.search(value):
        raise ctx.fail(path, f"{value!r} is not {expected or 'valid'}")
    return value


def integer(ctx: Ctx, value: Any, path: Path_, lo: int, hi: int | None = None) -> int:
    """An integer in ``lo..hi`` (inclusive; ``hi`` None = unbounded). Booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.fail(path, f"expected an integer, got {describe(value)}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ctx.fail(path, f"{value} is out of range; use an integer {bound}")
    return value


def number(
    ctx: Ctx,
    value: Any,
    path: Path_,
    lo: float,
    hi: float | None = None,
    *,
    open_lo: bool = False,
    open_hi: bool = False,
) -> float:
    """A finite number in the range (``open_*`` excludes that end)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ctx.fail(path, f"expected a number, got {describe(value)}")
    too_low = value <= lo if open_lo else value < lo
    too_high = hi is not None and (value >= hi if open_hi else value > hi)
    if too_low or too_high:
        left, right = "(" if open_lo else "[", ")" if open_hi else "]"
        upper = f"{hi:g}" if hi is not None else "∞"
        raise ctx.fail(path, f"{value:g} is out of range {left}{lo:g}, {upper}{right}")
    return float(value)


def boolean(ctx: Ctx, value: Any, path: Path_) -> bool:
    """``true``/``false`` only (YAML 1.2: ``yes``/``on`` are strings, so they are refused)."""
    if not isinstance(value, bool):
        raise ctx.fail(path, f"expected true or false, got {describe(value)}")
    return value


def duration(ctx: Ctx, value: Any, path: Path_, *, positive: bool = True) -> float:
    """Seconds from ``"30s"``, ``"5m"``, ``"1h"``, ``"1m30s"``, ``"500ms"`` or a number."""
    if isinstance(value, str):
        text = value.strip()
        if not _DURATION.match(text):
            raise ctx.fail(
                path, f'{value!r} is not a duration; write e.g. "30s", "5m", "1h" or seconds'
            )
        seconds = sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(text))
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
    else:
        raise ctx.fail(path, f'expected a duration ("30s" or seconds), got {describe(value)}')
    if seconds < 0 or (positive and seconds == 0):
        raise ctx.fail(path, f"{value!r} must be {'above' if positive else 'at least'} zero")
    return seconds


def string_list(ctx: Ctx, value: Any, path: Path_, *, unique: bool = False) -> tuple[str, ...]:
    """A list of non-empty strings (optionally without repeats)."""
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of strings, got {describe(value)}")
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ctx.fail((*path, i), f"expected a non-empty string, got {describe(item)}")
        if unique and item in seen:
            raise ctx.fail((*path, i), f"{item!r} is listed twice")
        seen.add(item)
    return tuple(value)


def command(ctx: Ctx, value: Any, path: Path_) -> tuple[str, ...]:
    """An argv: a list of strings, or one string split like a POSIX shell (``shlex``)."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise ctx.fail(path, f"cannot split the command ({e}); check the quotes") from e
    elif isinstance(value, list):
        argv = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ctx.fail((*path, i), f"expected a string, got {describe(item)}")
            argv.append(str(item))
    else:
        raise ctx.fail(path, f"expected a list of strings or a string, got {describe(value)}")
    if not argv:
        raise ctx.fail(path, "the command is empty; give the program and its arguments")
    return tuple(argv)
