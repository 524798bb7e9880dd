"""Nunjucks built-in filters over sequences: batch, slice, groupby, select, reject, urlize.

Private; semantics follow nunjitsu (Nunjucks 3.2.4), oracle-tested. Tests named by
``select``/``reject`` come from the renderer's own Nunjucks test table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from goldenpath.scaffolder import _js
from goldenpath.scaffolder._js import to_str
from goldenpath.scaffolder._nunjucks_filters import FilterError

__all__ = ["sequence_filters"]


def _values(value: Any, name: str) -> list[Any]:
    if value is None or _js.is_undefined(value):
        raise FilterError(f"{name} requires a sequence")
    if isinstance(value, str):
        return list(value)
    if isinstance(value, (list, tuple)):
        _js.charge(len(value))
        return list(value)
    return []


def _positive(value: Any, what: str) -> int:
    number = _js.to_number(value)
    if isinstance(number, float) and not number.is_integer() and number == number:
        number = int(number)
    if not isinstance(number, int) or number <= 0:
        raise FilterError(f"{what} must be a positive integer")
    return number


def _batch(value: Any, width: Any = None, fill: Any = None) -> list[list[Any]]:
    items, size = _values(value, "batch"), _positive(width, "Batch size")
    rows = [items[i : i + size] for i in range(0, len(items), size)]
    if rows and len(rows[-1]) < size and _js.truthy(fill):
        rows[-1] = rows[-1] + [fill] * (size - len(rows[-1]))
    return rows


def _slice(value: Any, count: Any = None, fill: Any = None) -> list[Any]:
    if not isinstance(value, (list, tuple, str)):
        raise FilterError("slice requires a sequence")
    items, parts = value, _positive(count, "Slice count")
    base, extra = divmod(len(items), parts)
    output, offset = [], 0
    for index in range(parts):
        length = base + (1 if index < extra else 0)
        part = items[offset : offset + length]
        offset += length
        if isinstance(part, (list, tuple)):
            part = list(part) + ([fill] if _js.truthy(fill) and index >= extra else [])
        output.append(part)
    return output


def _groupby(value: Any, attribute: Any = None) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    path = to_str(attribute).split(".")
    for item in _values(value, "groupby"):
        current = item
        for key in path:
            current = current.get(key) if isinstance(current, dict) else _js.JsUndefined()
        grouped.setdefault(_js.js_string(current), []).append(item)
    return grouped


def _make_select(tests: Mapping[str, Callable[..., Any]], keep: bool) -> Callable[..., list[Any]]:
    name = "select" if keep else "reject"

    def select(value: Any, test: Any = None, *args: Any) -> list[Any]:
        """Items whose named test (default ``truthy``) is true (``select``) / false."""
        test_name = "truthy" if test is None or _js.is_undefined(test) else to_str(test)
        if test_name not in tests:
            raise FilterError(f"Unknown template test {test_name}")
        items = _values(value, name)
        return [item for item in items if bool(tests[test_name](item, *args)) is keep]

    return select


_URL_PUNCTUATION = re.compile(r"^(?:\(|<|&lt;)?(.*?)(?:\.|,|\)|\n|&gt;)?$", re.S)
_EMAIL = re.compile(r"^[\w.!#$%&'*+\-/=?^`{|}~]+@[a-z\d-]+(?:\.[a-z\d-]+)+$", re.I)


def _urlize(value: Any, length: Any = None, nofollow: Any = False) -> str:
    limit = int(_js.to_number(length)) if isinstance(length, (int, float)) else None
    rel = ' rel="nofollow"' if nofollow is True else ""
    output = []
    if not isinstance(value, str):
        raise FilterError("Filter input must be a string")
    for word in re.split(r"(\s+)", value):
        if not word:
            continue
        match = _URL_PUNCTUATION.match(word)
        possible = match.group(1) if match else word
        short = possible[:limit] if limit is not None else possible
        if re.match(r"^https?://", possible):
            output.append(f'<a href="{possible}"{rel}>{short}</a>')
        elif possible.startswith("www."):
            output.append(f'<a href="http://{possible}"{rel}>{short}</a>')
        elif _EMAIL.match(possible):
            output.append(f'<a href="mailto:{possible}">{possible}</a>')
        elif re.search(r"\.(?:org|net|com)(?::|/|$)", possible):
            output.append(f'<a href="http://{possible}"{rel}>{short}</a>')
        else:
            output.append(word)
    return "".join(output)


def sequence_filters(tests: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """``batch``, ``slice``, ``groupby``, ``select``, ``reject``, ``urlize``."""
    return {
        "batch": _batch,
        "groupby": _groupby,
        "reject": _make_select(tests, False),
        "select": _make_select(tests, True),
        "slice": _slice,
        "urlize": _urlize,
    }
