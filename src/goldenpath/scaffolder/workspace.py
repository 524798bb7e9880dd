"""File-tree helpers for actions: where a ``url`` points, walking a skeleton, safe copies.

Every path an action reads comes from :func:`source_path` (inside the template's
directory or the workspace) and every path it writes from
:func:`goldenpath.scaffolder.actions.base.confine`. Symbolic links are never followed out
of their tree: a link whose target leaves the tree it lives in is refused.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.actions.base import confine

__all__ = [
    "MAX_TREE_BYTES",
    "MAX_TREE_FILES",
    "Entry",
    "copy_entry",
    "glob_entries",
    "is_binary",
    "safe_path",
    "source_path",
    "walk_tree",
]

#: Most files (and directories) one fetch may copy.
MAX_TREE_FILES = 20_000
#: Most bytes one fetch may copy.
MAX_TREE_BYTES = 200 * 1024 * 1024

REMOTE_UNSUPPORTED = (
    "remote fetch URLs are not supported yet; use a path relative to the template "
    "(e.g. ./skeleton) and commit the files next to template.yaml"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a tree: ``relative`` POSIX path, and what it is."""

    relative: str
    path: Path
    is_dir: bool
    is_link: bool


def safe_path(root: Path, relative: str | os.PathLike[str], *, what: str) -> Path:
    """:func:`confine` that also refuses dangling symbolic links leading out of ``root``.

    A link to a path that does not exist yet (``out -> /elsewhere/new``) would let a later
    write create a file outside ``root`` (Backstage CVE-2026-24047); such a link anywhere
    on the way is refused too.

    Raises:
        InvalidInput: as :func:`confine`, or a dangling link on the way leads outside.
    """
    if "\\" in os.fspath(relative):
        raise InvalidInput(
            f"{what} {os.fspath(relative)!r} contains a backslash; use '/' between directories "
            "(backslashes are refused so that '..\\' cannot climb out on Windows)"
        )
    candidate = confine(root, relative, what=what)
    base = root.resolve()
    existing = candidate
    while not os.path.lexists(existing) and existing != base:
        existing = existing.parent
    if not existing.resolve().is_relative_to(base):
        raise InvalidInput(
            f"{what} {os.fspath(relative)!r} escapes the workspace through a symbolic link"
        )
    return candidate


def source_path(url: str, *, template_dir: Path | None, workspace: Path, what: str) -> Path:
    """The local path a fetch ``url`` means.

    A relative path (``./skeleton``) resolves against ``template_dir`` (the workspace when
    the template has no directory) and may not leave it; an absolute path or ``file://``
    URL must lie inside the workspace or the template's directory.

    Raises:
        InvalidInput: a remote URL (not supported yet), a path escaping its base (``..``,
            absolute elsewhere, a symlink leading out), a missing path.
    """
    if "://" in url and not url.startswith("file://"):
        raise InvalidInput(f"{what} {url!r}: {REMOTE_UNSUPPORTED}")
    text = url.removeprefix("file://")
    if os.path.isabs(text):
        for base in (b for b in (workspace, template_dir) if b is not None):
            resolved = Path(os.path.normpath(text))
            if resolved.is_relative_to(base.resolve()):
                path = safe_path(base, resolved.relative_to(base.resolve()), what=what)
                break
        else:
            raise InvalidInput(
                f"{what} {url!r} is outside the template's directory and the workspace; "
                "use a path relative to the template (./skeleton)"
            )
    else:
        base = template_dir if template_dir is not None else workspace
        try:
            path = safe_path(base, text, what=what)
        except InvalidInput as e:
            raise InvalidInput(
                e.message.replace("the workspace", "the template's directory")
            ) from e
    if not os.path.lexists(path):
        raise InvalidInput(f"{what} {url!r} does not exist ({path.name} not found)")
    return path


def _check_link(link: Path, root: Path, relative: str) -> None:
    target = os.readlink(link)
    resolved = Path(os.path.normpath(link.parent / target))
    if os.path.isabs(target) or not resolved.is_relative_to(root.resolve()):
        raise InvalidInput(
            f"{relative} is a symbolic link to {target!r}, outside the template; "
            "links may only point inside the skeleton"
        )


def walk_tree(root: Path) -> Iterator[Entry]:
    """Every directory and file below ``root`` (hidden ones too), parents before children,
    sorted. Symbolic links are yielded as links (not followed) after checking that they
    stay inside ``root``.

    Raises:
        InvalidInput: a link leaving ``root``; more than :data:`MAX_TREE_FILES` entries or
            :data:`MAX_TREE_BYTES` bytes.
    """
    root = root.resolve()
    count = size = 0
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(dirpath)
        links = [d for d in dirs if (base / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        names = sorted([*files, *links])
        for name in [*dirs, *names]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            count += 1
            if count > MAX_TREE_FILES:
                raise InvalidInput(f"{root.name} holds more than {MAX_TREE_FILES} files")
            if path.is_symlink():
                _check_link(path, root, relative)
                yield Entry(relative, path, False, True)
            elif name in dirs:
                yield Entry(relative, path, True, False)
            else:
                size += path.stat().st_size
                if size > MAX_TREE_BYTES:
                    raise InvalidInput(f"{root.name} holds more than {MAX_TREE_BYTES} bytes")
                yield Entry(relative, path, False, False)


def glob_entries(root: Path, patterns: Iterable[str]) -> set[str]:
    """Relative POSIX paths below ``root`` matching the glob ``patterns`` (``**`` recursive,
    hidden files included, ``!pattern`` excludes), like globby with ``dot: true``."""
    matched: set[str] = set()
    excluded: set[str] = set()
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.removeprefix("./")
        hits = glob.glob(body, root_dir=root, recursive=True, include_hidden=True)
        normalised = {Path(h).as_posix().rstrip("/") for h in hits}
        (excluded if negate else matched).update(normalised)
    return matched - excluded


def is_binary(path: Path) -> bool:
    """True when ``path`` looks binary: a NUL byte in its first 8 KiB or not UTF-8 text."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if b"\0" in head:
        return True
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def copy_entry(entry: Entry, target: Path, *, workspace: Path) -> None:
    """Copy one entry to ``target`` (a directory is created; a file keeps its mode; a link
    is recreated with the same text after checking it stays inside ``workspace``)."""
    if entry.is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.is_link:
        link = os.readlink(entry.path)
        if not Path(os.path.normpath(target.parent / link)).is_relative_to(workspace.resolve()):
            raise InvalidInput(
                f"{entry.relative}: symbolic link to {link!r} would point outside the workspace"
            )
        if os.path.lexists(target):
            target.unlink()
        os.symlink(link, target)
        return
    if target.is_symlink():
        target.unlink()
    shutil.copyfile(entry.path, target, follow_symlinks=False)
    shutil.copymode(entry.path, target)
