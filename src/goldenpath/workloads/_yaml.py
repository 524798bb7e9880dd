"""YAML 1.2 loading for workload files, keeping the line of every field for error messages.

The catalog has its own loader (``goldenpath.catalog.yamldocs``) but the layering contract
keeps sibling domains independent, so this is the small version workload files need: one
document, YAML 1.2 core-schema scalars (``yes``/``on`` stay strings, ``0o17`` is octal),
duplicate keys rejected, a node budget against alias bombs, and a map from each field path to
the 1-based line where it is written (the key's line for mapping entries).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from goldenpath.workloads.errors import WorkloadError

__all__ = ["Path_", "YamlFile", "dotted", "load_yaml"]

Path_ = tuple[str | int, ...]
"""A field path: mapping keys and list indices, e.g. ``("spec", "run", "command", 0)``."""

MAX_BYTES = 1_000_000
MAX_NODES = 200_000

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_LITERALS: dict[str, str] = {
    **dict.fromkeys(("~", "null", "Null", "NULL"), _NULL),
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), _BOOL),
    **{f"{sign}.{word}": _FLOAT for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")},
    **dict.fromkeys((".nan", ".NaN", ".NAN"), _FLOAT),
}
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
#: ``"\ud800"`` escapes: PyYAML's Python parser keeps them (libyaml, the catalog's, refuses
#: them), making text no encoder accepts — it would fail far from the file
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_REASON = (
    "a UTF-16 surrogate escape (\\ud800-\\udfff) is not a character; write the character "
    "itself or a \\U escape (\\U0001F600)"
)


class _Loader(yaml.SafeLoader):
    """PyYAML's composer with YAML 1.2 core-schema resolution of plain scalars."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not ScalarNode:
            return _TAG + ("seq" if kind is SequenceNode else "map")
        if not implicit[0]:
            return _STR
        if not value:
            return _NULL
        if value in _LITERALS:
            return _LITERALS[value]
        if _INT_RE.match(value):
            return _INT
        return _FLOAT if _FLOAT_RE.match(value) else _STR


def dotted(path: Path_) -> str:
    """``("spec", "steps", 2, "pause")`` → ``"spec.steps.2.pause"`` (``""`` for the root)."""
    return ".".join(str(p) for p in path)


@dataclass(frozen=True)
class YamlFile:
    """One parsed document: ``data`` (JSON-shaped) and ``lines`` (field path → 1-based line)."""

    source: str
    data: Any
    lines: dict[Path_, int]

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None


def _scalar(node: ScalarNode) -> Any:
    tag, value = node.tag, node.value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    try:
        if tag == _INT:
            if value.startswith("0o"):
                return int(value[2:], 8)
            return int(value[2:], 16) if value.startswith("0x") else int(value)
        if tag == _FLOAT:
            low = value.lower()
            if low.endswith("inf"):
                return -math.inf if low.startswith("-") else math.inf
            return math.nan if low.endswith("nan") else float(value)
    except ValueError:
        pass  # an explicit !!int/!!float on text that is no number: keep the text
    return value  # str, and explicit tags (!!timestamp, !custom) keep their text


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {(): 1}
        self.budget = MAX_NODES

    def fail(self, reason: str, node: Node, path: Path_) -> WorkloadError:
        return WorkloadError(
            reason, source=self.source, line=node.start_mark.line + 1, field=dotted(path)
        )

    def convert(self, node: Node, path: Path_) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(
                f"more than {MAX_NODES} values (YAML aliases expanding?); simplify the file",
                node,
                path,
            )
        if isinstance(node, ScalarNode):
            if _SURROGATE.search(node.value):
                raise self.fail(_SURROGATE_REASON, node, path)
            return _scalar(node)
        if isinstance(node, SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines.setdefault((*path, i), item.start_mark.line + 1)
                items.append(self.convert(item, (*path, i)))
            return items
        assert isinstance(node, MappingNode)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                key = key_node.value
                if _SURROGATE.search(key):
                    raise self.fail(_SURROGATE_REASON, key_node, path)
            else:
                key = json.dumps(self.convert(key_node, path), separators=(",", ":"))
            if key in mapping:
                raise self.fail(
                    f"duplicate key {key!r}; each key may appear once", key_node, (*path, key)
                )
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            mapping[key] = self.convert(value_node, (*path, key))
        return mapping


def load_yaml(text: str | bytes, *, source: str) -> YamlFile:
    """Parse a single-document YAML file, remembering each field's line.

    Raises:
        WorkloadError: not UTF-8, larger than 1 MB, a syntax error (with its line), more
            than one document, a duplicate key, or an alias bomb.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WorkloadError(
                f"not UTF-8 text (byte {e.start}); save the file as UTF-8", source=source
            ) from e
    text = text.removeprefix("\ufeff")
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise WorkloadError(
            f"larger than {MAX_BYTES} bytes; a workload spec is a short file", source=source
        )
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:  # raised while the reader checks every character
        raise WorkloadError(
            f"character {e.character:#06x} is not allowed in YAML (control characters other "
            "than tab and line breaks); remove it",
            source=source,
            line=text.count("\n", 0, e.position) + 1,
        ) from e
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else None
        if "expected a single document" in str(e.context or ""):
            raise WorkloadError(
                "holds more than one YAML document; keep one workload per file",
                source=source,
                line=line,
            ) from e
        raise WorkloadError(f"YAML error: {e.problem}", source=source, line=line) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        line = mark.line + 1 if mark is not None else None
        raise WorkloadError(f"YAML syntax error: {problem}", source=source, line=line) from e
    except RecursionError as e:
        raise WorkloadError("the document nests too deeply", source=source) from e
    finally:
        loader.dispose()
    if node is None:
        return YamlFile(source, None, {(): 1})
    converter = _Converter(source)
    data = converter.convert(node, ())
    return YamlFile(source, data, converter.lines)
