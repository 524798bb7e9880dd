"""Nunjucks built-in text filters with nunjitsu's exact input rules (private).

``center``, ``indent``, ``nl2br``, ``truncate``, ``wordcount``, ``striptags``,
``urlencode``, ``urlize``, ``safe``: most accept ``undefined``/``null``/``false`` as ``''``
and refuse any other non-string with "Filter input must be a string", as nunjitsu does.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from goldenpath.scaffolder import _js
from goldenpath.scaffolder._js import is_undefined, js_string, to_str
from goldenpath.scaffolder._nunjucks_filters import FilterError

__all__ = ["text_filters"]

_STRING_REQUIRED = "Filter input must be a string"


def _normalized(value: Any) -> Any:
    return "" if value is None or value is False or is_undefined(value) else value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise FilterError(_STRING_REQUIRED)
    return value


def _direct_length(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return len(value)
    if isinstance(value, dict):
        return value.get("length", _js.JsUndefined())
    return _js.JsUndefined()


def _spaces(count: Any) -> str:
    number = _js.to_number(count) if not is_undefined(count) else math.nan
    if math.isnan(number) or number <= 0:
        return ""
    if not math.isfinite(number) or number > _js.MAX_STRING:
        raise FilterError("Filter spacing exceeds the supported bound")
    return " " * math.ceil(number)


def _center(value: Any, width: Any = None) -> Any:
    normalized = _normalized(value)
    width = width if _js.truthy(width) else 80
    length = _direct_length(normalized)
    if _js.compare(length, "gteq", width):
        return normalized
    spaces = _js.arith("-", width, length)
    half = _js.arith("/", spaces, 2)
    left = _js.arith("-", half, _js.arith("%", spaces, 2))
    return _spaces(left) + js_string(normalized) + _spaces(half)


def _indent(value: Any, width: Any = None, indent_first: Any = False) -> str:
    text = _text(_normalized(value))
    if text == "":
        return ""
    pad = _spaces(width if _js.truthy(width) else 4)
    lines = text.split("\n")
    first = 0 if _js.truthy(indent_first) else 1
    return "\n".join(pad + line if index >= first else line for index, line in enumerate(lines))


def _nl2br(value: Any) -> str:
    text = "" if value is None or is_undefined(value) else _text(value)
    return re.sub(r"\r\n|\n", "<br />\n", text)


def _truncate(value: Any, length: Any = None, killwords: Any = False, end: Any = None) -> Any:
    normalized = _normalized(value)
    limit_value = length if _js.truthy(length) else 255
    if _js.compare(_direct_length(normalized), "lteq", limit_value):
        return normalized
    text, limit = _text(normalized), int(_js.to_number(limit_value))
    if _js.truthy(killwords):
        cut = text[:limit]
    else:
        index = text.rfind(" ", 0, limit + 1)
        cut = text[: limit if index < 0 else index]
    return cut + ("..." if end is None or is_undefined(end) else js_string(end))


def _wordcount(value: Any) -> Any:
    normalized = _normalized(value)
    if not _js.truthy(normalized):
        return None
    return len(re.findall(r"\w+", _text(normalized), flags=re.ASCII)) or None


def _striptags(value: Any, preserve_linebreaks: Any = False) -> str:
    tags = r"<\/?([a-z][a-z0-9]*)\b[^>]*>|<!--[\s\S]*?-->"
    text = re.sub(tags, "", _text(_normalized(value)), flags=re.I).strip()
    if _js.truthy(preserve_linebreaks):
        text = re.sub(r"^ +| +$", "", text, flags=re.M)
        return re.sub(r"\n\n\n+", "\n\n", re.sub(r" +", " ", text).replace("\r\n", "\n"))
    return re.sub(r"\s+", " ", text)


def _encode(value: Any) -> str:
    """``encodeURIComponent(String(value))``."""
    return urllib.parse.quote(js_string(value), safe="-_.!~*'()")


def _urlencode_entry(entry: Any) -> tuple[Any, Any]:
    if entry is None or is_undefined(entry):
        raise FilterError("urlencode sequence entries cannot be nullish")
    if isinstance(entry, (list, str)):
        return (
            entry[0] if len(entry) > 0 else _js.JsUndefined(),
            entry[1] if len(entry) > 1 else _js.JsUndefined(),
        )
    if isinstance(entry, dict):
        return entry.get("0", _js.JsUndefined()), entry.get("1", _js.JsUndefined())
    return _js.JsUndefined(), _js.JsUndefined()


def _urlencode(value: Any) -> str:
    if isinstance(value, str):
        return _encode(value)
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [_urlencode_entry(entry) for entry in value]
    else:
        return ""
    return "&".join(f"{_encode(key)}={_encode(item)}" for key, item in pairs)


def _safe(value: Any) -> str:
    return to_str(value)


def text_filters() -> dict[str, Callable[..., Any]]:
    """The text filters above, by their Nunjucks names."""
    return {
        "center": _center,
        "indent": _indent,
        "nl2br": _nl2br,
        "safe": _safe,
        "striptags": _striptags,
        "truncate": _truncate,
        "urlencode": _urlencode,
        "wordcount": _wordcount,
    }
