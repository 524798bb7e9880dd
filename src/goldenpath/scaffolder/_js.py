"""JavaScript value semantics for the template renderer (private).

Backstage renders templates with nunjitsu, a Nunjucks 3.2.4 interpreter written in
TypeScript, so every value follows JavaScript rules: ``true`` prints as ``true``, a list
prints as ``a,b``, ``[]`` is truthy, ``'a' + 1`` is ``'a1'``, ``'a' * 3`` is ``NaN``. This
module holds those rules for plain JSON-shaped Python values (``dict``, ``list``, ``str``,
``int``, ``float``, ``bool``, ``None``) plus :class:`JsUndefined` and :class:`RegexLiteral`.

It also holds the per-render work budget (:func:`charge`), which bounds loops, ranges
and lookups so that no template can hang the renderer.
"""

from __future__ import annotations

import contextvars
import decimal
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import regex
from jinja2 import ChainableUndefined
from jinja2.exceptions import SecurityError

__all__ = [
    "MAX_STRING",
    "Budget",
    "JsUndefined",
    "RegexLiteral",
    "add",
    "arith",
    "charge",
    "compare",
    "concat",
    "js_string",
    "loose_equal",
    "number_to_str",
    "strict_equal",
    "to_number",
    "to_str",
    "truthy",
]

#: JavaScript's Number.MAX_SAFE_INTEGER; larger integer results become floats, as in JS.
_MAX_SAFE_INT = 2**53 - 1
#: Longest one regular-expression operation may run, in seconds (ReDoS bound).
REGEX_SECONDS = 0.5
#: Longest string a single operation may build (nunjitsu: 16 Mi output code units).
MAX_STRING = 16 * 1024 * 1024


class JsUndefined(ChainableUndefined):
    """JavaScript ``undefined``: prints as ``''``, lookups on it stay undefined.

    Nunjucks (and nunjitsu) never raise on a missing variable or member: ``${{ a.b.c }}``
    with no ``a`` renders as an empty string. Calling it still fails, as in Nunjucks.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class RegexLiteral:
    """A Nunjucks regular-expression literal ``r/source/flags`` (only ``g i m y``)."""

    source: str
    flags: str

    def compile(self) -> regex.Pattern[str]:
        """Return the compiled pattern; raises ``regex.error`` for an invalid pattern."""
        flags = 0
        if "i" in self.flags:
            flags |= regex.IGNORECASE
        if "m" in self.flags:
            flags |= regex.MULTILINE
        return regex.compile(self.source, flags)

    def sub(self, replacement: str, text: str, *, count: int) -> str:
        """``text`` with matches replaced; bounded by the render's remaining time (ReDoS)."""
        charge(len(text) // 64)
        return str(self.compile().sub(replacement, text, count=count, timeout=_seconds_left()))

    def split(self, text: str) -> list[str]:
        """``text`` split on matches; bounded by the render's remaining time."""
        charge(len(text) // 64)
        return [str(part) for part in self.compile().split(text, timeout=_seconds_left())]


class Budget:
    """Work units and wall-clock time one render may spend (nunjitsu's ``workUnits``)."""

    def __init__(self, work_units: int, seconds: float) -> None:
        self.left = work_units
        self.deadline = time.monotonic() + seconds

    def spend(self, units: int) -> None:
        """Charge ``units``; raises ``SecurityError`` when the budget or time runs out."""
        self.left -= units
        if self.left < 0:
            raise SecurityError("Template evaluation exceeded the work unit limit")
        if time.monotonic() > self.deadline:
            raise SecurityError("Template evaluation exceeded the time limit")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "goldenpath_budget", default=None
)


def current_budget() -> contextvars.ContextVar[Budget | None]:
    """The context variable holding the active render's :class:`Budget`."""
    return _BUDGET


def js_replacement(text: str) -> str:
    """A JS ``String.replace`` replacement (``$1``, ``$&``) as a ``regex`` template."""
    escaped = text.replace("\\", "\\\\")
    return regex.sub(
        r"\$(\d|&)", lambda m: "\\g<0>" if m.group(1) == "&" else f"\\{m.group(1)}", escaped
    )


def _seconds_left() -> float:
    budget = _BUDGET.get()
    left = REGEX_SECONDS if budget is None else budget.deadline - time.monotonic()
    return min(max(left, 0.001), REGEX_SECONDS)


def charge(units: int = 1) -> None:
    """Charge the active render's budget (no-op outside a render, e.g. at compile time)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(units)


def counted(items: Any) -> Iterator[Any]:
    """Iterate ``items`` charging one work unit per element."""
    for item in items:
        charge()
        yield item


def is_undefined(value: Any) -> bool:
    """True for Jinja/JS ``undefined``."""
    return isinstance(value, JsUndefined) or type(value).__name__.endswith("Undefined")


def truthy(value: Any) -> bool:
    """JavaScript truthiness: ``[]`` and ``{}`` are true, ``0``, ``NaN``, ``''`` false."""
    if value is None or value is False or is_undefined(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return len(value) > 0
    return True


def number_to_str(value: float | int) -> str:
    """``String(n)`` in JavaScript: ``2.0`` → ``'2'``, ``inf`` → ``'Infinity'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= _MAX_SAFE_INT else number_to_str(float(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text and abs(value) >= 1e-6:
        return format(decimal.Decimal(text), "f")
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa.removesuffix('.0')}e{sign}{exponent.lstrip('+-').lstrip('0')}"
    return text


def to_str(value: Any) -> str:
    """``String(value)`` as nunjitsu prints it; ``null``/``undefined`` print as ``''``."""
    if value is None or is_undefined(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_to_str(value)
    if isinstance(value, (list, tuple)):
        charge(len(value))
        return ",".join(to_str(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, RegexLiteral):
        return f"/{value.source}/{value.flags}"
    # Loop contexts, macros and other engine objects never print their Python repr.
    return ""


def js_string(value: Any) -> str:
    """``String(value)``: unlike output, ``undefined`` and ``null`` spell themselves."""
    if value is None:
        return "null"
    if is_undefined(value):
        return "undefined"
    return to_str(value)


def to_number(value: Any) -> float | int:
    """``Number(value)``: ``'3'`` → 3, ``''`` → 0, ``'x'`` → NaN, ``[]`` → 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return 0
    if isinstance(value, (list, tuple)):
        return to_number(to_str(value)) if len(value) <= 1 else math.nan
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        try:
            number = float(text)
        except ValueError:
            return math.nan
        return int(number) if number.is_integer() and abs(number) <= _MAX_SAFE_INT else number
    return math.nan


def _primitive(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict, RegexLiteral)):
        return to_str(value)
    return value


def _normalise(number: float | int) -> float | int:
    if isinstance(number, int) and abs(number) > _MAX_SAFE_INT:
        return float(number)
    if isinstance(number, float) and number.is_integer() and abs(number) <= _MAX_SAFE_INT:
        return int(number)
    return number


def add(left: Any, right: Any) -> Any:
    """JavaScript ``+``: string concatenation when either side becomes a string."""
    left, right = _primitive(left), _primitive(right)
    if isinstance(left, str) or isinstance(right, str):
        result = js_string(left) + js_string(right)
        charge(len(result) // 1024)
        return result
    return _normalise(to_number(left) + to_number(right))


def concat(*values: Any) -> str:
    """Nunjucks ``~``: the string forms joined."""
    return "".join(js_string(value) for value in values)


def arith(operator: str, left: Any, right: Any) -> Any:
    """JavaScript ``- * / % **`` and Nunjucks ``//`` on numbers (``NaN`` on non-numbers)."""
    a = math.nan if is_undefined(left) else to_number(_primitive(left))
    b = math.nan if is_undefined(right) else to_number(_primitive(right))
    try:
        if operator == "-":
            return _normalise(a - b)
        if operator == "*":
            return _normalise(
                float(a) * float(b) if abs(a) > _MAX_SAFE_INT or abs(b) > _MAX_SAFE_INT else a * b
            )
        if operator == "**":
            return math.nan if math.isnan(b) else _normalise(math.pow(a, b))
        if operator in ("/", "//"):
            quotient = (
                a / b
                if b
                else (
                    math.nan
                    if a == 0 or math.isnan(a)
                    else math.copysign(math.inf, a) * math.copysign(1, b)
                )
            )
            return _normalise(
                math.floor(quotient) if operator == "//" and math.isfinite(quotient) else quotient
            )
        if operator == "%":
            return _normalise(math.fmod(a, b)) if b and math.isfinite(a) else math.nan
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan
    raise SecurityError(f"operator {operator!r} is not supported in templates")


def strict_equal(left: Any, right: Any) -> bool:
    """JavaScript ``===`` on JSON values (objects and arrays compare by identity)."""
    if is_undefined(left) or is_undefined(right):
        return is_undefined(left) and is_undefined(right)
    if isinstance(left, (list, dict)) or isinstance(right, (list, dict)):
        return left is right
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    return type(left) is type(right) and left == right


def loose_equal(left: Any, right: Any) -> bool:
    """JavaScript ``==``: ``null == undefined``, ``'1' == 1``, ``true == 1``."""
    left_nullish = left is None or is_undefined(left)
    right_nullish = right is None or is_undefined(right)
    if left_nullish or right_nullish:
        return left_nullish and right_nullish
    if isinstance(left, (list, dict)) and isinstance(right, (list, dict)):
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    left, right = _primitive(left), _primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return to_number(left) == to_number(right)


def compare(left: Any, operator: str, right: Any) -> Any:
    """One Nunjucks comparison (``eq ne lt lteq gt gteq in notin``) with JS rules."""
    if operator == "eq":
        return loose_equal(left, right)
    if operator == "ne":
        return not loose_equal(left, right)
    if operator in ("in", "notin"):
        return contains(right, left) == (operator == "in")
    a, b = _primitive(left), _primitive(right)
    if not (isinstance(a, str) and isinstance(b, str)):
        a = math.nan if is_undefined(a) else to_number(a)
        b = math.nan if is_undefined(b) else to_number(b)
    if operator == "lt":
        return a < b
    if operator == "lteq":
        return a <= b
    if operator == "gt":
        return a > b
    return a >= b


def contains(container: Any, needle: Any) -> bool:
    """Nunjucks ``in``: substring of a string, element of a list, key of an object."""
    if isinstance(container, str):
        return js_string(needle) in container
    if isinstance(container, (list, tuple)):
        charge(len(container))
        return any(strict_equal(item, needle) for item in container)
    if isinstance(container, dict):
        return js_string(needle) in container
    raise SecurityError('Cannot use "in" operator to search for a value in a non-container')
