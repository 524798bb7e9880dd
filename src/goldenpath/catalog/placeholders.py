"""Placeholder substitution: ``$text``, ``$json``, ``$yaml``, ``$openapi`` (PlaceholderProcessor).

A placeholder is a mapping with exactly one key, starting with ``$``, whose name is a known
resolver; its value is a target (relative path, absolute path or URL) that is read and
substituted: ``$text`` as a string, ``$json``/``$yaml`` as parsed data (``$yaml`` must hold
exactly one document), ``$openapi`` as text with external ``$ref`` files inlined. Mappings with
several ``$`` keys or an unknown ``$name`` (``$ref`` in a JSON schema …) are left untouched.

Relative targets resolve against the document's directory. Backstage cannot do that for a
*file* location (it fails with "could not form a URL"); resolving them is a deliberate,
documented difference. Reading is injected (:data:`PlaceholderReader`); the default reader
(:func:`file_reader`) reads local files inside allowed roots and refuses remote URLs.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format#substitutions-in-the-descriptor-format
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from goldenpath.catalog.model import EntityError
from goldenpath.catalog.yamldocs import parse_documents
from goldenpath.errors import InvalidInput

__all__ = ["RESOLVERS", "PlaceholderReader", "file_reader", "resolve_placeholders"]

PlaceholderReader = Callable[[str, Path | None], str]
"""``(target, base_dir) -> text``; raises :class:`InvalidInput` when the target cannot be read."""

RESOLVERS = ("text", "json", "yaml", "openapi")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def file_reader(
    allowed_roots: Sequence[Path] = (), *, max_bytes: int = 10_000_000
) -> PlaceholderReader:
    """The default reader: local files only, confined to ``allowed_roots``.

    Relative targets resolve against ``base_dir``; with no ``allowed_roots`` the document's
    own directory bounds them. ``file://`` URLs are paths; other URLs are refused.

    Raises (from the returned reader):
        InvalidInput: ``cannot read remote placeholder target … (no network access)``, a path
            outside the allowed roots, a missing or unreadable file, a file over ``max_bytes``.
    """
    roots = [Path(r).resolve() for r in allowed_roots]

    def read(target: str, base_dir: Path | None) -> str:
        path = _local_path(target, base_dir)
        bounds = roots or ([base_dir.resolve()] if base_dir is not None else [])
        if bounds and not any(path.is_relative_to(root) for root in bounds):
            raise InvalidInput(
                f"cannot read placeholder target {target}: {path} is outside the allowed "
                f"directories ({', '.join(map(str, bounds))}); add its directory to "
                "catalog.allowed_roots"
            )
        return _read_text(target, path, max_bytes)

    return read


def _local_path(target: str, base_dir: Path | None) -> Path:
    if target.startswith("file://"):
        target = target[len("file://") :]
    elif _URL.match(target):
        raise InvalidInput(
            f"cannot read remote placeholder target {target} (no network access); "
            "commit the file next to the catalog file and use a relative path"
        )
    path = Path(target)
    if not path.is_absolute():
        if base_dir is None:
            raise InvalidInput(
                f"cannot read placeholder target {target}: a relative path needs a file location"
            )
        path = base_dir / path
    return path.resolve()


def _read_text(target: str, path: Path, max_bytes: int) -> str:
    try:
        if path.stat().st_size > max_bytes:
            raise InvalidInput(
                f"cannot read placeholder target {target}: {path} is over {max_bytes} bytes"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InvalidInput(f"cannot read placeholder target {target}: {path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read placeholder target {target}: {e}") from e


def resolve_placeholders(
    entity: dict[str, Any], *, base_dir: Path | None, reader: PlaceholderReader
) -> tuple[dict[str, Any], list[EntityError]]:
    """Substitute every placeholder in the entity (stage ``placeholder``).

    Returns:
        ``(entity, errors)``: the entity with placeholders replaced (the input is not mutated
        when nothing changed), and one error per placeholder that failed, with its field path
        (``spec.definition``) and a message naming the target.
    """
    errors: list[EntityError] = []
    result = _walk(entity, "", base_dir, reader, errors)
    return result, errors


def _walk(
    data: Any,
    path: str,
    base_dir: Path | None,
    reader: PlaceholderReader,
    errors: list[EntityError],
) -> Any:
    if isinstance(data, list):
        return [
            _walk(item, f"{path}.{i}" if path else str(i), base_dir, reader, errors)
            for i, item in enumerate(data)
        ]
    if not isinstance(data, dict):
        return data
    dollar = [k for k in data if k.startswith("$")]
    if not dollar:
        return {
            k: _walk(v, f"{path}.{k}" if path else k, base_dir, reader, errors)
            for k, v in data.items()
        }
    if len(data) != 1 or dollar[0][1:] not in RESOLVERS:
        return data
    key = dollar[0][1:]
    try:
        return _resolve(key, data[dollar[0]], base_dir, reader)
    except InvalidInput as e:
        errors.append(
            EntityError(path, f"Placeholder ${key} at {path}: {e.message}", "placeholder")
        )
        return data


def _resolve(key: str, target: Any, base_dir: Path | None, reader: PlaceholderReader) -> Any:
    if not isinstance(target, str):
        raise InvalidInput(
            "expected a string value parameter, in the form of an absolute URL or a "
            f"relative path, not {target!r}"
        )
    content = reader(target, base_dir)
    if key == "text":
        return content
    if key == "json":
        try:
            return json.loads(content)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"failed to parse JSON data at {target}, {e}") from e
    if key == "yaml":
        return _single_yaml(content, target)
    return _openapi(content, target, _child_dir(target, base_dir), reader)


def _single_yaml(content: str, target: str) -> Any:
    docs = [
        d for d in parse_documents(content, source=target, require_mapping=False) if not d.empty
    ]
    errors = [d.error for d in docs if d.error is not None]
    if errors:
        raise InvalidInput(f"found an error in the data at {target}, {errors[0].message}")
    if len(docs) != 1:
        raise InvalidInput(
            f"expected to find exactly one document of data at {target}, found {len(docs)}"
        )
    return docs[0].data


def _child_dir(target: str, base_dir: Path | None) -> Path | None:
    if _URL.match(target) and not target.startswith("file://"):
        return base_dir
    path = Path(target.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path.parent


def _openapi(content: str, target: str, base_dir: Path | None, reader: PlaceholderReader) -> str:
    """Inline external file ``$ref``s (``other.yaml#/x``), keep ``#/...`` refs; return YAML."""
    if "$ref" not in content:
        return content
    try:
        data = yaml.load(content, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as e:
        raise InvalidInput(f"failed to parse the OpenAPI document at {target}, {e}") from e
    bundled = _inline_refs(data, base_dir, reader, depth=0)
    return yaml.safe_dump(bundled, sort_keys=False, allow_unicode=True)


def _inline_refs(data: Any, base_dir: Path | None, reader: PlaceholderReader, depth: int) -> Any:
    if depth > 20:
        raise InvalidInput("OpenAPI $ref chain is deeper than 20 files (circular reference?)")
    if isinstance(data, list):
        return [_inline_refs(v, base_dir, reader, depth) for v in data]
    if not isinstance(data, dict):
        return data
    ref = data.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#") and len(data) == 1:
        file_part, _, pointer = ref.partition("#")
        loaded = yaml.load(reader(file_part, base_dir), Loader=yaml.CSafeLoader)
        for part in [p for p in pointer.split("/") if p]:
            loaded = loaded[part.replace("~1", "/").replace("~0", "~")]
        return _inline_refs(loaded, _child_dir(file_part, base_dir), reader, depth + 1)
    return {k: _inline_refs(v, base_dir, reader, depth) for k, v in data.items()}
