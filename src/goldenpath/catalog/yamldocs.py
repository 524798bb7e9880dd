"""Multi-document YAML 1.2 parsing for catalog files, as Backstage's ``parseEntityYaml`` does it.

Backstage parses with the ``yaml`` npm package (YAML 1.2 core schema, ``merge: false``,
``uniqueKeys: true``, ``maxAliasCount: 100``). PyYAML's C parser is used here for speed, with
YAML 1.2 core-schema implicit resolvers instead of PyYAML's 1.1 ones, so:

* ``yes``/``no``/``on``/``off``, ``2020-01-01`` and ``1_000`` stay strings; ``0o17`` and ``0x1F``
  are integers; ``012`` is decimal 12; ``<<`` is an ordinary key;
* duplicate mapping keys are an error (``Map keys must be unique``);
* an alias bomb fails like the npm package (``Excessive alias count …``);
* mapping keys become strings, as JSON conversion does.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.cyaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode, SequenceNode

from goldenpath.catalog.model import EntityError

__all__ = ["YamlDocument", "parse_documents"]

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_SEQ, _MAP = _TAG + "seq", _TAG + "map"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution): literal words by
# lookup, numbers by regex only when the first character can start one.
_LITERALS: dict[str, str] = {
    **dict.fromkeys(("~", "null", "Null", "NULL"), _NULL),
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), _BOOL),
    **{f"{sign}.{word}": _FLOAT for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")},
    **dict.fromkeys((".nan", ".NaN", ".NAN"), _FLOAT),
}
_NUMBER_FIRST = frozenset("-+.0123456789")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


_CParser: Any = getattr(yaml.cyaml, "CParser")  # noqa: B009 - libyaml; the stubs lack it


class _Loader(_CParser):
    """libyaml's parser and composer, with YAML 1.2 core tag resolution (called from C per node).

    Values are built by :func:`_convert` rather than PyYAML's constructor: about three times
    faster, and JSON-shaped (string keys, no ``<<`` merge, duplicate keys rejected).
    """

    # No path resolvers, so nothing to track; libyaml's composer calls these twice per node,
    # and C builtins that ignore their result cost a fraction of a Python method call.
    descend_resolver = staticmethod(operator.is_)  # (parent, index) -> bool, discarded
    ascend_resolver = staticmethod(tuple)  # () -> (), discarded

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """The tag of a node: YAML 1.2 core schema for plain scalars, else str/seq/map."""
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR
            if not value:
                return _NULL
            literal = _LITERALS.get(value)
            if literal is not None:
                return literal
            if value[0] in _NUMBER_FIRST:
                if _INT_RE.match(value):
                    return _INT
                if _FLOAT_RE.match(value):
                    return _FLOAT
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


def _scalar(node: Any) -> Any:
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
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
        return value
    # Explicit or unknown tags (!!timestamp, !custom): the npm package keeps the plain value.
    return value


def _convert(node: Any, dollar: list[bool]) -> Any:
    """Node graph → JSON-shaped value; ``dollar[0]`` is set when a key starts with ``$``."""
    cls = type(node)
    if cls is ScalarNode:
        return node.value if node.tag == _STR else _scalar(node)
    if cls is SequenceNode:
        return [_convert(item, dollar) for item in node.value]
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if type(key_node) is ScalarNode and key_node.tag == _STR:
            key = key_node.value
        else:
            key = _json_key(_convert(key_node, dollar))
        if key in mapping:
            raise ConstructorError(
                None, None, f"Map keys must be unique (duplicate key {key!r})", key_node.start_mark
            )
        if key[:1] == "$":
            dollar[0] = True
        mapping[key] = _convert(value_node, dollar)
    return mapping


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return ""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    if isinstance(key, int | float):
        return str(key)
    import json

    return json.dumps(key, separators=(",", ":"), default=str)


@dataclass(slots=True)
class YamlDocument:
    """One YAML document of a file.

    Attributes:
        index: 0-based position of the document in the file.
        data: the parsed value (``None`` for an empty document; a ``dict`` when usable).
        error: why the document cannot be used (stage ``parse``), else ``None``.
        has_dollar_keys: some mapping key starts with ``$`` (a placeholder may be present).
    """

    index: int
    data: Any
    error: EntityError | None = None
    has_dollar_keys: bool = False

    @property
    def empty(self) -> bool:
        """True for a document without content (``---`` alone); Backstage skips those."""
        return self.error is None and self.data is None


def _mark(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}; {problem}" if context and "unique" not in str(problem) else problem
    return f"YAML error in {source}{where}: {detail}"


def parse_documents(
    text: str | bytes,
    *,
    source: str,
    max_bytes: int = 1_000_000,
    max_aliases: int = 100,
    require_mapping: bool = True,
) -> list[YamlDocument]:
    """Parse every document of a catalog file; per-document problems become errors, not raises.

    Args:
        text: the file content (bytes are decoded as UTF-8, a BOM is dropped).
        source: what to call the file in messages (a path or location key).
        max_bytes: largest accepted document, in bytes (Backstage: documents over 1 MB fail).
        max_aliases: the npm ``yaml`` package's ``maxAliasCount`` (alias-expansion budget).
        require_mapping: reject documents that are not mappings (catalog entities); off for
            ``$yaml`` placeholder data.

    Returns:
        One :class:`YamlDocument` per document in file order. A syntax error ends the file:
        the document where it occurred gets the error (with line and column) and no later
        documents are returned. Non-mapping documents get ``Expected object at root``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            return [
                YamlDocument(0, None, _err(f"{source} is not valid UTF-8 text (byte {e.start})"))
            ]
    text = text.removeprefix("\ufeff")
    needs_alias_check = "*" in text and "&" in text
    loader = _Loader(text)
    docs: list[YamlDocument] = []
    try:
        while True:
            index = len(docs)
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                docs.append(
                    _document(loader, node, index, source, text, max_bytes, require_mapping)
                )
            except yaml.YAMLError as e:
                docs.append(YamlDocument(index, None, _err(_mark(source, e))))
                break
            except RecursionError:
                docs.append(YamlDocument(index, None, _err(f"{source}: document nests too deeply")))
                break
    finally:
        loader.dispose()
    if needs_alias_check:
        _apply_alias_budget(text, docs, source, max_aliases)
    return docs


def _document(
    loader: _Loader,
    node: Any,
    index: int,
    source: str,
    text: str,
    max_bytes: int,
    require_mapping: bool,
) -> YamlDocument:
    if node is None:
        return YamlDocument(index, None)
    start, end = node.start_mark.index, node.end_mark.index
    if end - start > max_bytes // 4 and len(text[start:end].encode("utf-8")) > max_bytes:
        return YamlDocument(
            index,
            None,
            _err(
                f"{source}: document {index} is larger than {max_bytes} bytes; documents over "
                f"{_human(max_bytes)} are rejected, split the file into smaller documents"
            ),
        )
    dollar = [False]
    data = _convert(node, dollar)
    if data is None:
        return YamlDocument(index, None)
    if require_mapping and not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else type(data).__name__
        return YamlDocument(
            index,
            None,
            _err(
                f"Expected object at root, got {kind}: document {index} of {source} must be a "
                "mapping with apiVersion, kind, metadata and spec"
            ),
        )
    return YamlDocument(index, data, has_dollar_keys=dollar[0])


def _human(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n} bytes"


def _err(message: str) -> EntityError:
    return EntityError(path="", message=message, stage="parse")


def _apply_alias_budget(text: str, docs: list[YamlDocument], source: str, budget: int) -> None:
    """Replay the events and fail documents whose aliases exceed the npm package's budget."""
    verdicts = _alias_verdicts(text, budget)
    for doc in docs:
        if doc.error is None and verdicts.get(doc.index):
            doc.data = None
            doc.error = _err(
                f"{source}: document {doc.index}: Excessive alias count indicates a resource "
                f"exhaustion attack (more than {budget} alias expansions); remove the YAML aliases"
            )


def _alias_verdicts(text: str, budget: int) -> dict[int, bool]:
    """Per document index: True when ``count * aliasCount > budget`` for some alias (yaml 2.x)."""
    out: dict[int, bool] = {}
    index = -1
    anchors: dict[str, list[int]] = {}
    stack: list[list[Any]] = []  # [max alias count of items, anchor name]
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
                anchors.clear()
                stack.clear()
                out[index] = False
            elif isinstance(event, yaml.AliasEvent):
                data = anchors.get(event.anchor or "")
                if data is None:
                    continue
                data[0] += 1
                if data[0] * data[1] > budget:
                    out[index] = True
                _contribute(stack, data[0] * data[1])
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = [1, 1]
                _contribute(stack, 1)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                stack.append([0, event.anchor])
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                count, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = [1, count]
                _contribute(stack, count)
    except yaml.YAMLError:
        pass  # the syntax error is already reported by the loader
    return out


def _contribute(stack: list[list[Any]], count: int) -> None:
    if stack and count > stack[-1][0]:
        stack[-1][0] = count
