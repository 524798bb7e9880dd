"""Source rewriting from Nunjucks expression syntax to Jinja2 syntax (private).

Jinja2 parses almost everything a Backstage template writes. The few Nunjucks/JS-isms it
does not are rewritten inside code regions (``${{ … }}``, ``{% … %}``) before parsing:

* ``{ defaultKind: 'group' }`` — a JS object literal with bare keys → ``{ "defaultKind": … }``
* ``r/-+/g`` — a regular-expression literal → ``_nj_regex("-+", "g")``
* ``null`` → ``none``; ``a === b`` / ``a !== b`` → the ``sameas`` test (JS strict equality)
* string literals are re-emitted with Nunjucks escapes (``'\\d'`` is ``d``, not ``\\d``)

Text outside code regions, comments and ``{% raw %}`` blocks is copied unchanged.
"""

from __future__ import annotations

import re

__all__ = ["TranslationError", "translate"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?")
_RAW_START = re.compile(r"\{%-?\s*raw\s*-?%\}")
_RAW_END = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_OPENERS = {"(": ")", "[": "]", "{": "}"}
#: Jinja2 reads these as constants; Nunjucks as ordinary (here undefined) variable names.
_PYTHON_CONSTANTS = frozenset({"True", "False", "None"})
#: Names nunjitsu refuses anywhere in an expression (prototype gadgets in JavaScript).
RESERVED_NAMES = frozenset({"constructor", "prototype", "__proto__"})


class TranslationError(ValueError):
    """The code region cannot be tokenised; ``line`` is one-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _jinja_string(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote, index, out = source[start], start + 1, []
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            out.append(_ESCAPES.get(source[index + 1], source[index + 1]))
            index += 2
            continue
        if char == quote:
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise TranslationError("Unterminated string literal", source.count("\n", 0, start) + 1)


def _read_regex(source: str, start: int) -> tuple[str, str, int]:
    index, pattern = start + 2, []
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            pattern.append(source[index : index + 2])
            index += 2
            continue
        if char == "/":
            index += 1
            flags_start = index
            while index < len(source) and source[index] in "gimy":
                index += 1
            return "".join(pattern), source[flags_start:index], index
        pattern.append(char)
        index += 1
    raise TranslationError(
        "Unterminated regular-expression literal", source.count("\n", 0, start) + 1
    )


def _next_significant(source: str, index: int) -> str:
    while index < len(source) and source[index] in " \t\r\n":
        index += 1
    return source[index] if index < len(source) else ""


def _line(source: str, index: int) -> int:
    return source.count("\n", 0, index) + 1


class _CodeRewriter:
    """Token-by-token rewrite of one code region (mirrors nunjitsu's tokenizer)."""

    def __init__(self, source: str, start: int) -> None:
        self.source, self.index = source, start
        self.out: list[str] = []
        self.stack: list[str] = []
        self.previous = ""

    def name(self, match: re.Match[str]) -> None:
        source, word = self.source, match.group(0)
        if word in RESERVED_NAMES:
            raise TranslationError(f'Template name "{word}" is reserved', _line(source, self.index))
        after_dot = self.previous == "."
        if word == "r" and source.startswith("/", match.end()) and not after_dot:
            pattern, flags, self.index = _read_regex(source, self.index)
            self.out.append(f"_nj_regex({_jinja_string(pattern)}, {_jinja_string(flags)})")
            self.previous = ")"
            return
        in_object = bool(self.stack) and self.stack[-1] == "}" and self.previous in ("{", ",")
        if in_object and _next_significant(source, match.end()) == ":":
            self.out.append(_jinja_string(word))  # JS object literal key: { key: value }
        elif word == "null" and not after_dot:
            self.out.append("none")
        elif word in _PYTHON_CONSTANTS and not after_dot:
            self.out.append("_nj_undefined")  # a plain (undefined) name in Nunjucks
        else:
            self.out.append(word)
        self.previous, self.index = word, match.end()

    def string(self) -> None:
        value, end = _read_string(self.source, self.index)
        if value in RESERVED_NAMES and self.previous == "[":
            raise TranslationError(f'Template name "{value}" is reserved', _line(self.source, end))
        self.out.append(_jinja_string(value))
        self.previous, self.index = "string", end

    def operator(self, char: str) -> None:
        if self.source.startswith(("===", "!=="), self.index):
            self.out.append(" is sameas " if char == "=" else " is not sameas ")
            self.previous, self.index = "is", self.index + 3
            return
        if char in _OPENERS:
            self.stack.append(_OPENERS[char])
        elif self.stack and char == self.stack[-1]:
            self.stack.pop()
        self.out.append(char)
        if not char.isspace():
            self.previous = char
        self.index += 1

    def step(self) -> None:
        source, index = self.source, self.index
        char = source[index]
        name = _NAME.match(source, index)
        number = _NUMBER.match(source, index)
        if name:
            self.name(name)
        elif char in "\"'":
            self.string()
        elif number:
            if _NAME.match(source, number.end()):
                raise TranslationError("Invalid numeric literal", _line(source, index))
            self.out.append(number.group(0))
            self.previous, self.index = "number", number.end()
        else:
            self.operator(char)


def _rewrite_code(source: str, start: int, closer: str) -> tuple[str, int]:
    """Rewrite one code region starting at ``start``; return (code, index after closer)."""
    rewriter = _CodeRewriter(source, start)
    while rewriter.index < len(source):
        if not rewriter.stack and source.startswith(closer, rewriter.index):
            return "".join(rewriter.out), rewriter.index + len(closer)
        rewriter.step()
    raise TranslationError(f"Unterminated code region, expected {closer!r}", _line(source, start))


def translate(source: str, *, variable_start: str = "${{") -> str:
    """Rewrite Nunjucks-only syntax in ``source`` so Jinja2 parses it the Nunjucks way.

    Raises :class:`TranslationError` for an unterminated string, regex or code region.
    """
    out: list[str] = []
    index = 0
    while index < len(source):
        candidates = [
            (source.find(opener, index), opener, closer)
            for opener, closer in ((variable_start, "}}"), ("{%", "%}"), ("{#", "#}"))
        ]
        found = [c for c in candidates if c[0] != -1]
        if not found:
            out.append(source[index:])
            break
        position, opener, closer = min(found, key=lambda c: c[0])
        out.append(source[index:position])
        if opener == "{#":
            end = source.find("#}", position)
            end = len(source) if end == -1 else end + 2
            out.append(source[position:end])
            index = end
            continue
        raw = _RAW_START.match(source, position)
        if raw:
            end_match = _RAW_END.search(source, raw.end())
            end = len(source) if end_match is None else end_match.end()
            out.append(source[position:end])
            index = end
            continue
        code, index = _rewrite_code(source, position + len(opener), closer)
        out.append(f"{opener}{code}{closer}")
    return "".join(out)
