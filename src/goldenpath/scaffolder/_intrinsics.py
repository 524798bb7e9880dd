"""Member lookup for templates: data keys and the JavaScript methods nunjitsu allows (private).

A template can only read dictionary keys, list items and the short list of string,
array and number methods nunjitsu exposes (``name.split('-')``, ``name.length``,
``tags.includes('x')``, ``n.toFixed(2)``). Nothing resolves to a Python attribute, so
``''.__class__``, ``x.__globals__`` or ``'{0.__class__}'.format`` are simply undefined.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from jinja2.runtime import LoopContext
from jinja2.utils import Namespace

from goldenpath.scaffolder import _js
from goldenpath.scaffolder._js import JsUndefined, RegexLiteral, to_str

__all__ = ["lookup", "lookup_item"]

_LOOP_FIELDS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})
_RESERVED = frozenset({"constructor", "prototype", "__proto__"})


def _int_arg(value: Any, default: int) -> int:
    if value is None or _js.is_undefined(value):
        return default
    number = _js.to_number(value)
    return 0 if isinstance(number, float) and math.isnan(number) else int(number)


def _slice_bounds(length: int, start: Any, end: Any) -> tuple[int, int]:
    first, last = _int_arg(start, 0), _int_arg(end, length)
    first = max(length + first, 0) if first < 0 else min(first, length)
    last = max(length + last, 0) if last < 0 else min(last, length)
    return first, last


def _str_replace(text: str, pattern: Any, replacement: Any = JsUndefined()) -> str:
    new = to_str(replacement) if not _js.is_undefined(replacement) else "undefined"
    if isinstance(pattern, RegexLiteral):
        return pattern.sub(_js.js_replacement(new), text, count=0 if "g" in pattern.flags else 1)
    return text.replace(to_str(pattern), new, 1)


def _str_split(text: str, separator: Any = JsUndefined(), limit: Any = JsUndefined()) -> list[str]:
    if _js.is_undefined(separator):
        parts = [text]
    elif isinstance(separator, RegexLiteral):
        parts = separator.split(text)
    elif to_str(separator) == "":
        parts = list(text)
    else:
        parts = text.split(to_str(separator))
    _js.charge(len(parts))
    return parts if _js.is_undefined(limit) else parts[: _int_arg(limit, len(parts))]


def _string_methods(text: str) -> dict[str, Callable[..., Any]]:
    return {
        "charAt": lambda i=0: text[_int_arg(i, 0)] if 0 <= _int_arg(i, 0) < len(text) else "",
        "endsWith": lambda s: text.endswith(to_str(s)),
        "includes": lambda s: to_str(s) in text,
        "indexOf": lambda s: text.find(to_str(s)),
        "lastIndexOf": lambda s: text.rfind(to_str(s)),
        "replace": lambda p, r=JsUndefined(): _str_replace(text, p, r),
        "slice": lambda a=None, b=None: text[slice(*_slice_bounds(len(text), a, b))],
        "split": lambda s=JsUndefined(), n=JsUndefined(): _str_split(text, s, n),
        "startsWith": lambda s: text.startswith(to_str(s)),
        "substring": lambda a=0, b=None: _substring(text, a, b),
        "toLowerCase": lambda: text.lower(),
        "toUpperCase": lambda: text.upper(),
        "trim": lambda: text.strip(),
        "trimEnd": lambda: text.rstrip(),
        "trimStart": lambda: text.lstrip(),
    }


def _substring(text: str, start: Any, end: Any) -> str:
    first = min(max(_int_arg(start, 0), 0), len(text))
    last = min(max(_int_arg(end, len(text)), 0), len(text))
    return text[min(first, last) : max(first, last)]


def _array_methods(items: list[Any]) -> dict[str, Callable[..., Any]]:
    return {
        "at": lambda i=0: (
            items[_int_arg(i, 0)] if -len(items) <= _int_arg(i, 0) < len(items) else JsUndefined()
        ),
        "concat": lambda *more: (
            items + [x for m in more for x in (m if isinstance(m, list) else [m])]
        ),
        "includes": lambda v: any(_js.strict_equal(x, v) for x in items),
        "indexOf": lambda v: next((i for i, x in enumerate(items) if _js.strict_equal(x, v)), -1),
        "join": lambda s=",": (to_str(s) if not _js.is_undefined(s) else ",").join(
            to_str(x) for x in items
        ),
        "slice": lambda a=None, b=None: items[slice(*_slice_bounds(len(items), a, b))],
    }


def _number_methods(number: float | int) -> dict[str, Callable[..., Any]]:
    return {
        "toFixed": lambda d=0: f"{number:.{min(max(_int_arg(d, 0), 0), 100)}f}",
        "toString": lambda: _js.number_to_str(number),
    }


def _record_methods(record: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """Jinja dict methods nunjitsu accepts in cookiecutter-compatibility mode."""
    return {
        "get": lambda k, d=None: record.get(to_str(k), d),
        "items": lambda: [[k, v] for k, v in record.items()],
        "keys": lambda: list(record),
        "values": lambda: list(record.values()),
    }


def lookup(obj: Any, name: str, *, cookiecutter: bool = False) -> Any:
    """``obj.name`` in a template: a data key, a JS intrinsic, or ``undefined``."""
    _js.charge()
    if name in _RESERVED:
        return JsUndefined()
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        if cookiecutter and name in ("get", "items", "keys", "values"):
            return _record_methods(obj)[name]
        return JsUndefined()
    if isinstance(obj, Namespace):  # the hidden frame of _scoping; data only
        return JsUndefined() if name.startswith("_") else getattr(obj, name, JsUndefined())
    if isinstance(obj, LoopContext):
        return getattr(obj, name) if name in _LOOP_FIELDS else JsUndefined()
    methods: dict[str, Callable[..., Any]] = {}
    if isinstance(obj, str):
        if name == "length":
            return len(obj)
        methods = _string_methods(obj)
    elif isinstance(obj, list):
        if name == "length":
            return len(obj)
        if name.isdigit():
            return lookup_item(obj, int(name))
        methods = _array_methods(obj)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        methods = _number_methods(obj)
    return methods.get(name, JsUndefined())


def lookup_item(obj: Any, key: Any, *, cookiecutter: bool = False) -> Any:
    """``obj[key]`` in a template: list index, string character, slice or data key."""
    _js.charge()
    if isinstance(key, slice):
        if isinstance(obj, (list, str)):
            _js.charge(len(obj))
            return obj[key]
        return JsUndefined()
    if isinstance(obj, (list, str)) and isinstance(key, (int, float)) and not isinstance(key, bool):
        index = int(key)
        return obj[index] if key == index and 0 <= index < len(obj) else JsUndefined()
    if obj is None or _js.is_undefined(obj):
        return JsUndefined()
    return lookup(obj, to_str(key), cookiecutter=cookiecutter)
