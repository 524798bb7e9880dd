"""The Nunjucks 3.2.4 built-in filters with nunjitsu's JavaScript semantics (private).

Differences from Jinja2's same-named filters are deliberate and oracle-tested: ``join``
defaults to ``''``, ``title`` lower-cases the rest of each word, ``default`` only replaces
``undefined``, ``int``/``float`` give ``undefined`` for garbage, ``upper``/``lower`` refuse
non-strings, ``replace`` takes ``r/…/g`` literals, ``dump`` is ``JSON.stringify``.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Callable
from typing import Any

from goldenpath.scaffolder import _js
from goldenpath.scaffolder._js import JsUndefined, RegexLiteral, is_undefined, to_str

__all__ = ["FilterError", "nunjucks_filters"]


class FilterError(ValueError):
    """A filter was given input it cannot handle; the message says what was expected."""


def _text(value: Any) -> str:
    return "" if value is None or is_undefined(value) else to_str(value)


def _strict_text(value: Any) -> str:
    """nunjitsu's text input: ``undefined``/``null``/``false`` → ``''``; non-strings fail."""
    if value is None or value is False or is_undefined(value):
        return ""
    if not isinstance(value, str):
        raise FilterError("Filter input must be a string")
    return value


def _default(value: Any, default: Any = None, boolean: Any = False) -> Any:
    if _js.truthy(boolean):
        return value if _js.truthy(value) else default
    return default if is_undefined(value) else value


def _replace(value: Any, old: Any, new: Any = "", max_count: Any = None) -> Any:
    replacement = _text(new)
    if isinstance(old, RegexLiteral):
        count = 0 if "g" in old.flags else 1
        return old.sub(_js.js_replacement(replacement), _text(value), count=count)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = to_str(value)
    if not isinstance(value, str):
        return value
    limit = -1 if max_count is None or is_undefined(max_count) else int(_js.to_number(max_count))
    _js.charge(len(value) // 64)
    old_text = to_str(old)
    if old_text == "":
        if len(replacement) * (len(value) + 1) > _js.MAX_STRING:
            raise FilterError(f"replace result is over the {_js.MAX_STRING} character limit")
        return replacement + replacement.join(value) + replacement
    return value.replace(old_text, replacement, limit)


def _capitalize(value: Any) -> str:
    text = _strict_text(value).lower()
    return text[:1].upper() + text[1:]


def _title(value: Any) -> str:
    return " ".join(_capitalize(word) for word in _strict_text(value).split(" "))


def _trim(value: Any) -> str:
    if not isinstance(value, str):
        raise FilterError("Filter input must be a string")
    return value.strip()


def _length(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    return 0 if value is None or value is False or is_undefined(value) else JsUndefined()


def _join(value: Any, separator: Any = "", attribute: Any = None) -> str:
    if not isinstance(value, (list, tuple)):
        raise FilterError("join requires an array")
    items = list(value)
    separator = separator if _js.truthy(separator) else ""
    if attribute is not None and not is_undefined(attribute):
        items = [item.get(attribute) if isinstance(item, dict) else JsUndefined() for item in items]
    return _text(separator).join(_text(item) for item in items)


def _first(value: Any) -> Any:
    if value is None or is_undefined(value):
        raise FilterError("first requires a sequence")
    if isinstance(value, dict):
        return value.get("0", JsUndefined())
    return value[0] if isinstance(value, (str, list)) and value else JsUndefined()


def _last(value: Any) -> Any:
    if value is None or is_undefined(value):
        raise FilterError("last requires a sequence")
    return value[-1] if isinstance(value, (str, list)) and value else JsUndefined()


def _dump(value: Any, spaces: Any = None) -> Any:
    if is_undefined(value):
        return JsUndefined()
    indent = (
        int(spaces) if isinstance(spaces, (int, float)) and not isinstance(spaces, bool) else None
    )
    if isinstance(spaces, str):
        indent = None
    return json.dumps(
        _jsonable(value),
        ensure_ascii=False,
        indent=indent,
        separators=(",", ":") if indent is None else (",", ": "),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if not is_undefined(item)}
    if isinstance(value, (list, tuple)):
        return [None if is_undefined(item) else _jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _int(value: Any, default: Any = JsUndefined(), base: Any = 10) -> Any:
    number_base = int(_js.to_number(base) or 10)
    digits = "0-9" if number_base == 10 else "0-9a-zA-Z"
    match = re.match(rf"\s*([+-]?[{digits}]+)", to_str(value))
    if match:
        try:
            return int(match.group(1), number_base)
        except ValueError:
            pass
    return default


def _float(value: Any, default: Any = JsUndefined()) -> Any:
    match = re.match(r"\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)", to_str(value))
    if match:
        number = float(match.group(1))
        return int(number) if number.is_integer() else number
    return default


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return list(value)
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise FilterError("list filter: type not iterable")


def _sort(
    value: Any, reverse: Any = False, case_sensitive: Any = False, attribute: Any = None
) -> list[Any]:
    items = list(value) if isinstance(value, (list, str)) else []
    _js.charge(len(items))
    path = [] if attribute is None or is_undefined(attribute) else to_str(attribute).split(".")

    def pick(item: Any) -> Any:
        for key in path:
            item = item.get(key, JsUndefined()) if isinstance(item, dict) else JsUndefined()
        if not _js.truthy(case_sensitive) and isinstance(item, str):
            return item.lower()
        return item

    def order(left: Any, right: Any) -> int:
        a, b = pick(left), pick(right)
        return -1 if _js.compare(a, "lt", b) else 1 if _js.compare(a, "gt", b) else 0

    return sorted(items, key=functools.cmp_to_key(order), reverse=_js.truthy(reverse))


def _reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    if isinstance(value, (list, tuple)):
        return list(reversed(value))
    return []


def _round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    number = float(_js.to_number(value))
    factor = 10 ** int(_js.to_number(precision) if _js.truthy(precision) else 0)
    if not math.isfinite(number):
        return number
    rounder = math.ceil if method == "ceil" else math.floor
    result = rounder(number * factor + (0.5 if method not in ("ceil", "floor") else 0)) / factor
    return int(result) if result.is_integer() else result


def _escape(value: Any) -> str:
    return html.escape(_text(value), quote=True).replace("&#x27;", "&#39;").replace("\\", "&#92;")


def _sum(value: Any, attribute: Any = None, start: Any = JsUndefined()) -> Any:
    if not isinstance(value, list):
        raise FilterError("sum requires an array")
    total: Any = 0
    for item in value:
        if attribute is not None and not is_undefined(attribute):
            item = item.get(to_str(attribute), JsUndefined()) if isinstance(item, dict) else None
        total = _js.add(total, item)
    return _js.add(0 if is_undefined(start) else start, total)


def _abs(value: Any) -> Any:
    return abs(_js.to_number(value))


def _string(value: Any) -> str:
    if value is None or is_undefined(value):
        raise FilterError("string requires a value")
    return to_str(value)


def _selectattr(value: Any, attribute: Any = None) -> list[Any]:
    return [
        item
        for item in value or []
        if isinstance(item, dict) and _js.truthy(item.get(to_str(attribute)))
    ]


def _rejectattr(value: Any, attribute: Any = None) -> list[Any]:
    return [
        item
        for item in value or []
        if not (isinstance(item, dict) and _js.truthy(item.get(to_str(attribute))))
    ]


def _dictsort(value: Any, case_sensitive: Any = False, by: Any = "key") -> list[list[Any]]:
    if not isinstance(value, dict):
        raise FilterError("dictsort filter: val must be an object")
    index = 1 if by == "value" else 0

    def key(pair: list[Any]) -> Any:
        item = pair[index]
        return item.lower() if isinstance(item, str) and not _js.truthy(case_sensitive) else item

    return sorted(([k, v] for k, v in value.items()), key=key)


def nunjucks_filters() -> dict[str, Callable[..., Any]]:
    """The Nunjucks 3.2.4 built-in filters nunjitsu supports, with JS semantics."""
    return {
        "abs": _abs,
        "capitalize": _capitalize,
        "d": _default,
        "default": _default,
        "dictsort": _dictsort,
        "dump": _dump,
        "e": _escape,
        "escape": _escape,
        "first": _first,
        "float": _float,
        "forceescape": _escape,
        "int": _int,
        "join": _join,
        "last": _last,
        "length": _length,
        "list": _list,
        "lower": lambda value: _strict_text(value).lower(),
        "rejectattr": _rejectattr,
        "replace": _replace,
        "reverse": _reverse,
        "round": _round,
        "selectattr": _selectattr,
        "sort": _sort,
        "string": _string,
        "sum": _sum,
        "title": _title,
        "trim": _trim,
        "upper": lambda value: _strict_text(value).upper(),
    }
