"""Where policies come from: the built-in bundle and the platform team's policy directory.

The built-in bundle is the ``*.rego`` files in ``goldenpath/policy/builtin/`` (package data)
with their example cases (``*_test.yaml``). A policy directory (``settings.policy.directory``,
default ``<home>/policies``) adds files; a file with the same name as a built-in one replaces
it (``workload.rego`` in the directory overrides the built-in ``workload.rego``, the same for
case files). Only the top level of each directory is read, in name order, so the bundle a
directory yields is deterministic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from goldenpath.errors import InvalidInput
from goldenpath.policy.model import PolicyFile

__all__ = [
    "BUILTIN_DIR",
    "PolicySource",
    "builtin_sources",
    "check_source",
    "directory_signature",
    "merge_sources",
    "read_directory",
    "sources_from_texts",
]

#: the shipped bundle (package data)
BUILTIN_DIR = Path(__file__).with_name("builtin")

#: the largest policy or case file read (bytes)
MAX_FILE_BYTES = 1_000_000

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
#: rule ids: ``"rule": "id"`` in an object, or the ``"id: … — fix: …"`` one-line form
_RULE_ID = re.compile(r"\"rule\"\s*:\s*\"([^\"]+)\"|\"([a-z0-9][a-z0-9._-]*): [^\"]* — fix: ")
_V0_RULE = re.compile(r"^(deny|warn)\s*\[[^\]]*\]\s*\{", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One file's text: ``name`` (the file name, the override key), ``kind`` (``rego`` or
    ``cases``), where it came from and its text."""

    name: str
    kind: Literal["rego", "cases"]
    source: Literal["builtin", "custom"]
    path: str
    text: str
    overrides: bool = False

    @property
    def packages(self) -> tuple[str, ...]:
        """The Rego packages the file declares (``goldenpath.workload``)."""
        return tuple(dict.fromkeys(_PACKAGE.findall(self.text)))

    def describe(self) -> PolicyFile:
        """The :class:`PolicyFile` shown by ``platform policy ls``."""
        return PolicyFile(
            name=self.name,
            source=self.source,
            path=self.path,
            packages=self.packages,
            rules=tuple(dict.fromkeys(a or b for a, b in _RULE_ID.findall(self.text))),
            overrides=self.overrides,
            sha256=hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
        )


def _kind(name: str) -> Literal["rego", "cases"] | None:
    if name.endswith(".rego"):
        return "rego"
    if name.endswith(("_test.yaml", "_test.yml")):
        return "cases"
    return None


def check_source(name: str, text: str) -> None:
    """Refuse what the compiler would misread: a bad file name, no ``package``, or Rego v0
    rule heads (``deny[msg] { … }``), naming ``file:line:col`` and the fix.

    Raises:
        InvalidInput: with ``details`` ``{file, line, column}``.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            f"{name}: policy file names use letters, digits, '.', '_' and '-' only",
            details={"file": name, "line": 1, "column": 1},
        )
    if _kind(name) != "rego":
        return
    if not _PACKAGE.search(text):
        raise InvalidInput(
            f"{name}:1:1: no `package` declaration; start the file with "
            "`package goldenpath.<area>`",
            details={"file": name, "line": 1, "column": 1},
        )
    old = _V0_RULE.search(text)
    if old is not None:
        line = text.count("\n", 0, old.start()) + 1
        raise InvalidInput(
            f"{name}:{line}:1: Rego v0 rule head `{old.group(1)}[…] {{`; write "
            f"`{old.group(1)} contains v if {{ … }}` (Rego v1)",
            details={"file": name, "line": line, "column": 1},
        )


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(
                f"{path}: larger than {MAX_FILE_BYTES} bytes; split the policy into files",
                details={"file": path.name},
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", details={"file": path.name}
        ) from e
    except OSError as e:
        raise InvalidInput(
            f"{path}: cannot read the policy file: {e.strerror}", details={"file": path.name}
        ) from e


def _files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return []
    except OSError as e:
        raise InvalidInput(
            f"{directory}: cannot read the policy directory: {e.strerror}",
            details={"directory": str(directory)},
        ) from e
    return [p for p in entries if _kind(p.name) is not None and p.is_file()]


def builtin_sources() -> list[PolicySource]:
    """The shipped bundle's files (``.rego`` and ``*_test.yaml``), by name."""
    return [
        PolicySource(
            name=path.name,
            kind=kind,
            source="builtin",
            path=f"builtin/{path.name}",
            text=path.read_text(encoding="utf-8"),
        )
        for path in _files(BUILTIN_DIR)
        if (kind := _kind(path.name)) is not None
    ]


def read_directory(directory: Path) -> list[PolicySource]:
    """The policy directory's files (a missing directory has none).

    Raises:
        InvalidInput: unreadable directory or file, a bad name, no package, Rego v0 heads.
    """
    found: list[PolicySource] = []
    for path in _files(directory):
        kind = _kind(path.name)
        assert kind is not None
        text = _read(path)
        check_source(path.name, text)
        found.append(
            PolicySource(name=path.name, kind=kind, source="custom", path=str(path), text=text)
        )
    return found


def sources_from_texts(files: Mapping[str, str], *, origin: str) -> list[PolicySource]:
    """Custom sources from ``{file name: text}`` (what ``platform policy test DIR`` uploads);
    names that are neither ``.rego`` nor ``*_test.yaml`` are refused.

    Raises:
        InvalidInput: naming the file.
    """
    found: list[PolicySource] = []
    for name in sorted(files):
        kind = _kind(name)
        if kind is None or "/" in name or "\\" in name:
            raise InvalidInput(
                f"{name}: only top-level `*.rego` and `*_test.yaml` files are policy files",
                details={"file": name},
            )
        text = files[name]
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            raise InvalidInput(
                f"{name}: larger than {MAX_FILE_BYTES} bytes", details={"file": name}
            )
        check_source(name, text)
        found.append(
            PolicySource(name=name, kind=kind, source="custom", path=f"{origin}/{name}", text=text)
        )
    return found


def merge_sources(
    builtin: Iterable[PolicySource], custom: Iterable[PolicySource]
) -> list[PolicySource]:
    """Built-in files, with same-named custom ones replacing them, then the other custom
    files; ordered by name (``overrides`` marks a replacement)."""
    merged = {s.name: s for s in builtin}
    for s in custom:
        replaced = s.name in merged and merged[s.name].source == "builtin"
        merged[s.name] = PolicySource(
            name=s.name, kind=s.kind, source=s.source, path=s.path, text=s.text, overrides=replaced
        )
    return [merged[name] for name in sorted(merged)]


def directory_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """``(name, size, mtime_ns)`` of the directory's policy files: a change means reload."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return ()
    signature: list[tuple[str, int, int]] = []
    for path in entries:
        if _kind(path.name) is None:
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        signature.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(signature))
