"""The Nunjucks 3.2.4 built-in filters with nunjitsu's JavaScript semantics (private).

Differences from Jinja2's same-named filters are deliberate and oracle-tested: ``join``
defaults to ``''``, ``title`` lower-cases the rest of each word, ``default`` only replaces
``undefined``, ``int``/``float`` give ``undefined`` for garbage, ``upper``/``lower`` refuse
non-strings, ``replace`` takes ``r/…/g`` literals, ``dump`` is ``JSON.stringify``.
"""

from __future__ import annotations

import html
import json
import math
import re
import urllib.parse
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


def _length(value: Any) -> int:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    return 0


def _join(value: Any, separator: Any = "", attribute: Any = None) -> str:
    items = list(value) if isinstance(value, (list, tuple)) else []
    if attribute is not None and not is_undefined(attribute):
        items = [item.get(attribute) if isinstance(item, dict) else JsUndefined() for item in items]
    return _text(separator).join(_text(item) for item in items)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (str, list)) and value else JsUndefined()


def _last(value: Any) -> Any:
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
    items = list(value) if isinstance(value, (list, tuple)) else []
    _js.charge(len(items))

    def key(item: Any) -> tuple[int, Any]:
        if attribute is not None and not is_undefined(attribute):
            item = item.get(attribute) if isinstance(item, dict) else None
        if isinstance(item, str):
            return (1, item if _js.truthy(case_sensitive) else item.lower())
        if isinstance(item, (int, float)):
            return (0, item)
        return (2, to_str(item))

    return sorted(items, key=key, reverse=_js.truthy(reverse))


def _reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    if isinstance(value, (list, tuple)):
        return list(reversed(value))
    if isinstance(value, dict):
        return list(reversed(list(value.values())))
    return []


def _urlencode(value: Any) -> str:
    pairs: list[tuple[Any, Any]]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [(p[0], p[1]) for p in value if isinstance(p, list) and len(p) == 2]
    else:
        return urllib.parse.quote(_text(value), safe="-_.!~*'()")

    def quote(part: Any) -> str:
        return urllib.parse.quote(to_str(part), safe="-_.!~*()")

    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)


def _truncate(value: Any, length: Any = 255, killwords: Any = False, end: Any = None) -> str:
    text, limit = _text(value), int(_js.to_number(length))
    if len(text) <= limit:
        return text
    if _js.truthy(killwords):
        text = text[:limit]
    else:
        index = text.rfind(" ", 0, limit + 1)
        text = text[: limit if index == -1 else index]
    return text + ("..." if end is None or is_undefined(end) else _text(end))


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


def _wordcount(value: Any) -> Any:
    return len(re.findall(r"\w+", _text(value))) or None


def _striptags(value: Any, preserve_linebreaks: Any = False) -> str:
    text = re.sub(
        r"<\/?([a-z][a-z0-9]*)\b[^>]*>|<!--[\s\S]*?-->", "", _strict_text(value), flags=re.I
    ).strip()
    if _js.truthy(preserve_linebreaks):
        text = re.sub(r"^ +| +$", "", text, flags=re.M)
        return re.sub(r"\n\n\n+", "\n\n", re.sub(r" +", " ", text.replace("\r\n", "\n")))
    return re.sub(r"\s+", " ", text).strip()


def _sum(value: Any, attribute: Any = None, start: Any = 0) -> Any:
    total = start
    for item in value if isinstance(value, list) else []:
        if attribute is not None and not is_undefined(attribute):
            item = item.get(attribute) if isinstance(item, dict) else JsUndefined()
        total = _js.add(total, item)
    return total


def _center(value: Any, width: Any = 80) -> str:
    text, size = _text(value), int(_js.to_number(width))
    if size > _js.MAX_STRING:
        raise FilterError(f"center width {size} is over the {_js.MAX_STRING} character limit")
    if len(text) >= size:
        return text
    left = (size - len(text)) // 2
    return " " * left + text + " " * (size - len(text) - left)


def _indent(value: Any, width: Any = 4, indent_first: Any = False) -> str:
    lines, pad = _text(value).split("\n"), " " * min(int(_js.to_number(width)), 1024)
    return "\n".join(
        (pad + line if (index or _js.truthy(indent_first)) and line else line)
        for index, line in enumerate(lines)
    )


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


def _nl2br(value: Any) -> str:
    return re.sub(r"\r\n|\n", "<br />\n", _text(value))


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
        "center": _center,
        "d": _default,
        "default": _default,
        "dictsort": _dictsort,
        "dump": _dump,
        "e": _escape,
        "escape": _escape,
        "first": _first,
        "float": _float,
        "forceescape": _escape,
        "indent": _indent,
        "int": _int,
        "join": _join,
        "last": _last,
        "length": _length,
        "list": _list,
        "lower": lambda value: _strict_text(value).lower(),
        "nl2br": _nl2br,
        "rejectattr": _rejectattr,
        "replace": _replace,
        "reverse": _reverse,
        "round": _round,
        "safe": lambda value: value,
        "selectattr": _selectattr,
        "sort": _sort,
        "string": _string,
        "striptags": _striptags,
        "sum": _sum,
        "title": _title,
        "trim": _trim,
        "truncate": _truncate,
        "upper": lambda value: _strict_text(value).upper(),
        "urlencode": _urlencode,
        "wordcount": _wordcount,
    }
