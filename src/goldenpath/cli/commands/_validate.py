"""Local validation for ``platform catalog validate``: no server, the catalog's own pipeline.

Each YAML document goes through :func:`goldenpath.catalog.processing.process_file`, the same
processing the server runs on import, so a file that validates here imports cleanly there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from goldenpath.catalog import processing
from goldenpath.errors import InvalidInput
from goldenpath.settings import Settings

__all__ = ["expand_paths", "validate_paths"]

_SUFFIXES = {".yaml", ".yml"}
_SKIP_DIRS = {".git", "node_modules", ".venv", "__pycache__"}


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files to validate: each file as given, each directory's ``*.yaml``/``*.yml`` recursively.

    Directories are walked in sorted order, skipping ``.git``, ``node_modules`` and ``.venv``.

    Raises:
        InvalidInput: a path does not exist, or a directory holds no YAML file.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(_yaml_files(path))
            if not found:
                raise InvalidInput(f"{path}: the directory holds no *.yaml or *.yml file")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or directory; pass a catalog YAML file")
    return files


def validate_paths(settings: Settings, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """One verdict per YAML document: ``{"file", "index", "ref", "valid", "errors"}``.

    ``index`` is the 0-based position of the document in its file; ``errors`` is a list of
    ``{"path", "message"}`` (``path`` is the field path, ``""`` for the whole document).
    Empty documents are skipped, as Backstage does. A file that cannot be read gives one
    invalid verdict with index 0.
    """
    rules = processing.KindRules.from_kinds(settings.catalog.allowed_kinds)
    verdicts: list[dict[str, Any]] = []
    for file in expand_paths(paths):
        verdicts.extend(_validate_file(settings, file, rules))
    return verdicts


def _validate_file(
    settings: Settings, file: Path, rules: processing.KindRules
) -> Iterator[dict[str, Any]]:
    try:
        documents = processing.process_file(
            file,
            rules=rules,
            allowed_roots=tuple(settings.catalog.allowed_roots),
            max_bytes=settings.catalog.max_document_bytes,
            max_aliases=settings.catalog.max_alias_count,
        )
    except (OSError, InvalidInput) as e:
        message = e.message if isinstance(e, InvalidInput) else f"cannot read the file: {e}"
        yield _verdict(file, 0, None, [{"path": "", "message": message}])
        return
    for document in documents:
        if document.ignored:
            continue
        problems = [{"path": error.path, "message": error.message} for error in document.errors]
        if not document.valid and not problems:
            problems = [{"path": "", "message": "the document was rejected"}]
        yield _verdict(file, document.index, document.ref, problems)


def _verdict(
    file: Path, index: int, ref: str | None, problems: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "file": str(file),
        "index": index,
        "ref": ref,
        "valid": not problems,
        "errors": problems,
    }


def _yaml_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if _SKIP_DIRS.intersection(path.relative_to(root).parts[:-1]):
            continue
        if path.suffix.lower() in _SUFFIXES and path.is_file():
            yield path
