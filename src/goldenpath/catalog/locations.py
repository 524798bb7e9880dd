"""Reading locations: the files a ``file`` or ``url`` location means; following Location entities.

* ``file`` targets are a file, a directory (every ``*.yaml``/``*.yml`` below it, hidden
  directories and ``node_modules`` skipped) or a glob (``/repo/**/catalog-info.yaml``).
* ``url`` targets are anything ``git clone`` accepts (a local repository path, ``file://``,
  ``https://``). Backstage's blob/tree URLs (``https://host/org/repo/blob/<ref>/<path>``) select a
  ref and a path inside the repository; otherwise ``catalog-info.yaml`` at the root is read. The
  clone is shallow, under ``<home>/cache/git``.
* Location entities found in the files are followed: ``spec.target``/``spec.targets`` relative to
  the file, which may not escape the file's own directory; cycles are cut.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format#kind-location
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goldenpath.catalog.model import ProcessedDocument
from goldenpath.errors import Forbidden, InvalidInput, NotFound

__all__ = [
    "Emitted",
    "GitReader",
    "ReadError",
    "ReadResult",
    "SourceFile",
    "check_allowed",
    "collect",
    "expand_path",
    "parse_git_url",
    "real_files",
    "resolve_registered",
]

_GLOB_CHARS = re.compile(r"[*?\[]")
_SKIP_DIRS = {"node_modules", "__pycache__"}
_BLOB = re.compile(r"^(?P<repo>.+?)(?:/-)?/(?:blob|tree|src)/(?P<ref>[^/]+)(?:/(?P<path>.*))?$")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to process: where it is on disk and its Backstage location key."""

    path: Path
    key: str  # "file:/abs/path" or "url:<repo>/blob/<ref>/<path>"
    parent_ref: str  # the Location entity whose target produced this file


@dataclass(frozen=True, slots=True)
class ReadError:
    """A target that could not be read; recorded against the Location entity that named it."""

    source: str
    entity_ref: str
    message: str
    doc_index: int | None = None


@dataclass(frozen=True, slots=True)
class Emitted:
    """One processed document and where it came from."""

    doc: ProcessedDocument
    file: SourceFile


@dataclass(slots=True)
class ReadResult:
    """Everything one location produced in one pass."""

    documents: list[Emitted] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    #: Location entities whose targets failed: their previous children are kept, not orphaned
    failed_parents: set[str] = field(default_factory=set)


def check_allowed(path: Path, roots: Sequence[Path], *, what: str) -> None:
    """Refuse ``path`` unless it lies under one of ``roots`` (no roots = anything allowed).

    Raises:
        Forbidden: names the path, the allowed roots and the setting to change.
    """
    if not roots:
        return
    resolved = path.resolve()
    for root in roots:
        if resolved.is_relative_to(Path(root).expanduser().resolve()):
            return
    allowed = ", ".join(str(r) for r in roots)
    raise Forbidden(
        f"{what} {path} is outside the allowed roots ({allowed}); move it there or add its "
        "directory to catalog.allowed_roots (GOLDENPATH_CATALOG__ALLOWED_ROOTS)"
    )


def expand_path(target: Path) -> list[Path]:
    """The YAML files ``target`` means: itself, every YAML file below a directory, glob matches."""
    text = str(target)
    if _GLOB_CHARS.search(text):
        return sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if target.is_dir():
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(target):
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS
            )
            found.extend(
                Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))
            )
        return found
    return [target] if target.is_file() else []


def real_files(target: Path, roots: Sequence[Path]) -> list[Path]:
    """:func:`expand_path` with every path symlink-resolved, in the same order.

    Resolves the target's directory once and builds the paths below it from the walk (a
    per-file ``Path.resolve()`` costs an ``lstat`` per path component: seconds at 100k files).
    The walk does not enter symlinked directories; a symlinked file is resolved on its own
    and must stay under ``roots`` (when any are set), so a link cannot smuggle a file from
    outside the allowed roots into a location.

    Raises:
        Forbidden: a symlinked file points outside ``roots``.
    """
    text = str(target)
    if _GLOB_CHARS.search(text):
        found = [(Path(p), os.path.islink(p)) for p in expand_path(target)]
        dirs: dict[Path, Path] = {}
        out = []
        for path, link in found:
            if link:
                out.append(_real_link(path, roots))
                continue
            real_dir = dirs.get(path.parent)
            if real_dir is None:
                real_dir = dirs[path.parent] = path.parent.resolve()
            out.append(real_dir / path.name)
        return out
    if target.is_dir():
        out = []
        _walk_real(target.resolve(), roots, out)
        return out
    if target.is_file():
        return [_real_link(target, roots)] if target.is_symlink() else [target.resolve()]
    return []


def _list_dir(directory: str) -> tuple[list[tuple[str, bool]], list[str]]:
    """``([(yaml file name, is symlink)], [subdirectory names])`` of one directory, sorted."""
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda entry: entry.name)
    except OSError:
        return [], []
    files: list[tuple[str, bool]] = []
    subdirs: list[str] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            # os.walk(followlinks=False) semantics: symlinked directories are not entered
            if (
                not entry.name.startswith(".")
                and entry.name not in _SKIP_DIRS
                and not entry.is_symlink()
            ):
                subdirs.append(entry.name)
        elif entry.name.endswith((".yaml", ".yml")):
            files.append((entry.name, entry.is_symlink()))
    return files, subdirs


def _walk_real(directory: Path, roots: Sequence[Path], out: list[Path]) -> None:
    """Files of ``directory`` (already resolved), then its subdirectories, like ``os.walk``.

    (Listing directories from a thread pool was measured slower: the sorting and ``DirEntry``
    work holds the GIL, and the reads are mostly cached.)
    """
    files, subdirs = _list_dir(str(directory))
    for name, link in files:
        path = directory / name
        out.append(_real_link(path, roots) if link else path)
    for name in subdirs:
        _walk_real(directory / name, roots, out)


def _real_link(path: Path, roots: Sequence[Path]) -> Path:
    real = path.resolve()
    check_allowed(real, roots, what=f"symlinked file {path} ->")
    return real


def parse_git_url(url: str) -> tuple[str, str | None, str | None]:
    """Split ``url`` into ``(repository, ref, path inside it)`` (blob/tree URLs; else whole URL)."""
    match = _BLOB.match(url.rstrip("/"))
    if match and "://" in url:
        return match["repo"], match["ref"], match["path"] or None
    return url, None, None


class GitReader:
    """Shallow clones into ``cache_dir``, at most once per repository and ref per instance.

    Args:
        cache_dir: where checkouts live (``<home>/cache/git``).
        timeout: seconds one ``git clone`` may take.
    """

    def __init__(self, cache_dir: Path, *, timeout: float = 120.0) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        self._done: dict[tuple[str, str | None], Path | InvalidInput] = {}

    def checkout(self, repo: str, ref: str | None) -> Path:
        """A fresh shallow checkout of ``repo`` at ``ref`` (default branch when ``None``).

        Raises:
            InvalidInput: git failed (the repository does not exist, no access, bad ref);
                the message quotes git's own reason.
        """
        key = (repo, ref)
        if key not in self._done:
            try:
                self._done[key] = self._clone(repo, ref)
            except InvalidInput as e:
                self._done[key] = e
        result = self._done[key]
        if isinstance(result, InvalidInput):
            raise result
        return result

    def _clone(self, repo: str, ref: str | None) -> Path:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        dest = self.cache_dir / hashlib.sha1(f"{repo}#{ref}".encode()).hexdigest()
        tmp = Path(tempfile.mkdtemp(prefix="clone-", dir=self.cache_dir))
        cmd = ["git", "clone", "--quiet", "--depth", "1"]
        if ref:
            cmd += ["--branch", ref]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        try:
            done = subprocess.run(
                [*cmd, "--", repo, str(tmp / "repo")],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvalidInput(f"git clone of {repo} failed: {e}") from e
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            reason = (
                " ".join(
                    line.strip()
                    for line in done.stderr.splitlines()
                    if "fatal" in line or "error" in line
                )
                or done.stderr.strip()
            )
            raise InvalidInput(
                f"git clone of {repo} failed: {reason or 'exit ' + str(done.returncode)}; "
                "check that the URL exists and is readable without a password"
            )
        shutil.rmtree(dest, ignore_errors=True)
        (tmp / "repo").rename(dest)
        shutil.rmtree(tmp, ignore_errors=True)
        return dest


def _url_key(repo: str, ref: str | None, rel: str) -> str:
    return f"url:{repo}/blob/{ref or 'HEAD'}/{rel}"


def resolve_registered(
    type: str, target: str, *, roots: Sequence[Path], git: GitReader, parent_ref: str
) -> list[SourceFile]:
    """The files a registered location means right now.

    Raises:
        InvalidInput: unknown type; git failed.
        Forbidden: the target is outside ``catalog.allowed_roots``.
        NotFound: nothing at the target.
    """
    if type == "file":
        path = Path(target).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"file location {target} must be an absolute path")
        base = path
        while _GLOB_CHARS.search(str(base)):
            base = base.parent
        check_allowed(base, roots, what="file location")
        files = real_files(path, roots)
        if not files:
            raise NotFound(f"file location {target} does not exist or holds no *.yaml files")
        return [SourceFile(f, f"file:{f}", parent_ref) for f in files]
    if type == "url":
        return _resolve_git(target, roots=roots, git=git, parent_ref=parent_ref)
    raise InvalidInput(f'location type "{type}" is not supported; use "file" or "url"')


def _resolve_git(
    target: str, *, roots: Sequence[Path], git: GitReader, parent_ref: str
) -> list[SourceFile]:
    repo, ref, sub = parse_git_url(target)
    local = repo[len("file://") :] if repo.startswith("file://") else repo
    if "://" not in local and not re.match(r"^[\w.-]+@[\w.-]+:", local):
        check_allowed(Path(local), roots, what="git repository")
    checkout = git.checkout(repo, ref)
    wanted = checkout / (sub or "catalog-info.yaml")
    if not wanted.resolve().is_relative_to(checkout.resolve()):
        raise InvalidInput(f"url location {target}: the path escapes the repository")
    files = expand_path(wanted)
    if not files:
        raise NotFound(
            f"url location {target}: {sub or 'catalog-info.yaml'} not found in the repository"
        )
    return [
        SourceFile(f, _url_key(repo, ref, f.relative_to(checkout).as_posix()), parent_ref)
        for f in files
    ]


ProcessFiles = Callable[[list[SourceFile]], list[list[ProcessedDocument]]]


def collect(
    roots_files: list[SourceFile],
    *,
    process: ProcessFiles,
    git: GitReader,
    roots: Sequence[Path],
    max_files: int = 100_000,
) -> ReadResult:
    """Process ``roots_files`` and, level by level, the targets of Location entities in them.

    Each level is handed to ``process`` in one call (so it can use a process pool). A file or
    repository seen before in this pass is not read again (cycle protection).
    """
    result = ReadResult()
    seen: set[str] = {f.key for f in roots_files}
    level = roots_files
    while level and len(seen) <= max_files:
        next_level: list[SourceFile] = []
        for source, docs in zip(level, process(level), strict=True):
            for doc in docs:
                result.documents.append(Emitted(doc, source))
                if (
                    doc.entity is not None
                    and not doc.errors
                    and doc.ref
                    and (str(doc.entity.get("kind", "")).lower() == "location")
                ):
                    next_level.extend(_follow(doc, source, git, roots, result, seen))
        level = next_level
    return result


def _follow(
    doc: ProcessedDocument,
    source: SourceFile,
    git: GitReader,
    roots: Sequence[Path],
    result: ReadResult,
    seen: set[str],
) -> list[SourceFile]:
    assert doc.entity is not None and doc.ref is not None
    spec = doc.entity.get("spec") or {}
    targets = ([spec["target"]] if isinstance(spec.get("target"), str) else []) + [
        t for t in spec.get("targets") or [] if isinstance(t, str)
    ]
    out: list[SourceFile] = []
    for target in targets:
        try:
            files = _resolve_child(str(spec.get("type") or ""), target.strip(), source, git, roots)
        except (InvalidInput, NotFound, Forbidden) as e:
            result.errors.append(ReadError(str(source.path), doc.ref, e.message, doc.index))
            result.failed_parents.add(doc.ref)
            continue
        for f in files:
            if f.key not in seen:
                seen.add(f.key)
                out.append(SourceFile(f.path, f.key, doc.ref))
    return out


def _resolve_child(
    type: str, target: str, source: SourceFile, git: GitReader, roots: Sequence[Path]
) -> list[SourceFile]:
    if "://" in target:
        return _resolve_git(target, roots=roots, git=git, parent_ref="")
    base = source.path.parent.resolve()
    wanted = Path(os.path.normpath(base / target))
    if not wanted.is_relative_to(base) or (
        wanted.exists() and not wanted.resolve().is_relative_to(base)
    ):
        raise InvalidInput(
            f"{source.path}: Location target {target!r} escapes the directory of its file "
            f"({base}); targets must be relative paths below it"
        )
    files = expand_path(wanted) if source.key.startswith("url:") else real_files(wanted, roots)
    if not files:
        if _GLOB_CHARS.search(target):
            return []
        raise NotFound(f"{source.path}: Location target {target!r} does not exist ({wanted})")
    if source.key.startswith("url:"):
        prefix = source.key.rsplit("/", 1)[0]
        return [SourceFile(f, f"{prefix}/{f.relative_to(base).as_posix()}", "") for f in files]
    return [SourceFile(f, f"file:{f}", "") for f in files]
