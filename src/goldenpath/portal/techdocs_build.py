"""TechDocs for the portal: find an entity's docs, build them with MkDocs, keep the built site.

An entity's ``backstage.io/techdocs-ref`` annotation says where its docs are. ``dir:<path>``
is resolved against the directory of the file that defines the entity (its
``backstage.io/managed-by-location``, or ``backstage.io/source-location`` when that is a
``file:``/``dir:`` location), as Backstage does; ``url:`` targets (and entities read from git
URLs) are not built here. The docs are built with ``mkdocs build`` semantics and the
``techdocs-core`` plugin (added when the repository's ``mkdocs.yml`` lacks it; a minimal
``mkdocs.yml`` is generated when there is none, like ``techdocs-cli generate``) into
``<techdocs_dir>/<namespace>/<kind>/<name>/`` (``settings.portal.techdocs_dir``, default
``<home>/techdocs``). Every build sets the material theme's ``font: false`` (also over a
repository's own ``mkdocs.yml``), so a built page loads no fonts from fonts.googleapis.com /
fonts.gstatic.com: docs pages fetch nothing from outside this server.

A build runs in a worker thread which runs MkDocs in a child process with a timeout, a
scrubbed environment (no platform secrets in reach of ``!ENV``) and ``hooks`` removed; a new
site replaces the old one only when complete. A site is rebuilt when the SHA-256 of its docs
tree (``mkdocs.yml`` + the docs directory) changes; a failed build is not retried until the
tree changes. MkDocs configuration can run Python (plugins, YAML tags), so building docs is as
trusted as running the repository's CI — register only repositories you would build.

Source: https://backstage.io/docs/features/techdocs/how-to-guides
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldenpath.errors import Forbidden, InvalidInput, NotFound

__all__ = [
    "BUILD_TIMEOUT",
    "TECHDOCS_REF",
    "BuildStatus",
    "DocsSource",
    "TechDocsBuilder",
    "docs_source",
]

TECHDOCS_REF = "backstage.io/techdocs-ref"
BUILD_TIMEOUT = 180.0
META_FILE = ".goldenpath-techdocs.json"
_MAX_FILES = 5000
_MAX_BYTES = 200_000_000
_CONFIG_NAMES = ("mkdocs.yml", "mkdocs.yaml")
_DOCS_DIR = re.compile(r"^docs_dir:\s*['\"]?([^'\"#\n]+?)['\"]?\s*(#.*)?$", re.MULTILINE)

#: run in the child: load the config, add techdocs-core, drop hooks, turn off the theme's web
#: fonts (``theme.font: false``), build (``mkdocs build``)
_CHILD = r"""
import sys
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.utils.yaml import yaml_load

config_file, site_dir = sys.argv[1], sys.argv[2]
with open(config_file, "rb") as fh:
    raw = yaml_load(fh) or {}
plugins = raw.get("plugins", ["search"])
if isinstance(plugins, dict):
    plugins.setdefault("techdocs-core", {})
else:
    plugins = list(plugins or [])
    names = [p if isinstance(p, str) else next(iter(p), "") for p in plugins]
    if "techdocs-core" not in names:
        plugins.append("techdocs-core")
theme = raw.get("theme")
theme = dict(theme) if isinstance(theme, dict) else {"name": theme}
if theme.get("name") != "material":  # techdocs-core replaces any other theme by material
    theme = {"name": "material"}
theme["font"] = False  # no Google Fonts: a docs page fetches nothing from outside
config = load_config(config_file, site_dir=site_dir, plugins=plugins, hooks=[], theme=theme)
config.plugins.on_startup(command="build", dirty=False)
try:
    build(config)
finally:
    config.plugins.on_shutdown()
"""


@dataclass(frozen=True, slots=True)
class DocsSource:
    """Where an entity's docs are: ``root`` holds ``mkdocs.yml`` (``config``, None when one
    must be generated) and the docs directory ``docs_dir``; ``site_name`` for generation."""

    root: Path
    config: Path | None
    docs_dir: Path
    site_name: str


@dataclass(frozen=True, slots=True)
class BuildStatus:
    """Where an entity's site stands: ``state`` ready|building|failed|absent; ``site`` the built
    site directory (set when a site exists, even while a newer one builds); ``message`` and
    ``log`` (the tail of MkDocs' output) explain a failure; ``built_at`` Unix seconds."""

    state: str
    site: Path | None = None
    message: str = ""
    log: str = ""
    built_at: float | None = None


def _location_dir(entity: Mapping[str, Any]) -> Path:
    annotations = (entity.get("metadata") or {}).get("annotations") or {}
    for key in ("backstage.io/managed-by-location", "backstage.io/source-location"):
        value = str(annotations.get(key) or "")
        kind, _, target = value.partition(":")
        if kind in ("file", "dir") and target.startswith("/"):
            path = Path(target)
            return path if kind == "dir" or target.endswith("/") else path.parent
    raise InvalidInput(
        "the entity was not read from a local file (backstage.io/managed-by-location is "
        "not file:…), so its docs cannot be found here; url: locations are not supported here"
    )


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return not roots or any(path.is_relative_to(Path(r).resolve()) for r in roots)


def docs_source(entity: Mapping[str, Any], *, allowed_roots: Sequence[Path] = ()) -> DocsSource:
    """The docs of ``entity`` per its ``backstage.io/techdocs-ref`` annotation.

    Raises:
        NotFound: no annotation, or the directory does not exist.
        InvalidInput: a ``url:`` (or other non-``dir:``) ref, or an entity not read from a file.
        Forbidden: the directory is outside ``catalog.allowed_roots``.
    """
    meta = entity.get("metadata") or {}
    ref = str((meta.get("annotations") or {}).get(TECHDOCS_REF) or "").strip()
    if not ref:
        raise NotFound(f"the entity has no {TECHDOCS_REF} annotation (e.g. dir:.)")
    kind, _, target = ref.partition(":")
    if kind != "dir":
        raise InvalidInput(
            f"{TECHDOCS_REF} {ref!r}: only dir: targets are built by this portal; "
            "url: targets are not supported here"
        )
    base = _location_dir(entity)
    root = (base / target).resolve() if target else base.resolve()
    if not _inside(root, allowed_roots):
        raise Forbidden(f"{TECHDOCS_REF} {ref!r} points outside catalog.allowed_roots ({root})")
    if not root.is_dir():
        raise NotFound(f"{TECHDOCS_REF} {ref!r}: directory {root} does not exist")
    config = next((root / n for n in _CONFIG_NAMES if (root / n).is_file()), None)
    docs_dir = root / "docs"
    if config is not None:
        found = _DOCS_DIR.search(config.read_text(encoding="utf-8", errors="replace"))
        if found:
            docs_dir = (root / found.group(1).strip()).resolve()
    name = str(meta.get("title") or meta.get("name") or "docs")
    return DocsSource(root=root, config=config, docs_dir=docs_dir, site_name=name)


def tree_hash(source: DocsSource) -> str:
    """SHA-256 over the relative paths and contents of ``mkdocs.yml`` and the docs directory.

    Raises:
        InvalidInput: more than 5,000 files or 200 MB.
    """
    digest = hashlib.sha256()
    files: list[Path] = [source.config] if source.config else []
    if source.docs_dir.is_dir():
        for dirpath, dirnames, filenames in os.walk(source.docs_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            files.extend(Path(dirpath) / f for f in sorted(filenames))
            if len(files) > _MAX_FILES:
                raise InvalidInput(f"{source.docs_dir} holds more than {_MAX_FILES} files")
    total = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        total += len(data)
        if total > _MAX_BYTES:
            raise InvalidInput(f"the docs under {source.root} are larger than {_MAX_BYTES:,} bytes")
        digest.update(str(path.relative_to(source.root)).encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _read_meta(site: Path) -> dict[str, Any]:
    try:
        data = json.loads((site / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class TechDocsBuilder:
    """Builds and keeps TechDocs sites under ``out_root`` (one worker thread per build).

    Args:
        out_root: where sites go (``<out_root>/<namespace>/<kind>/<name>``).
        timeout: seconds a build may take before MkDocs is killed.
        allowed_roots: ``catalog.allowed_roots`` (docs directories must lie inside).
    """

    def __init__(
        self, *, out_root: Path, timeout: float = BUILD_TIMEOUT, allowed_roots: Sequence[Path] = ()
    ) -> None:
        self.out_root = out_root
        self.timeout = timeout
        self.allowed_roots = list(allowed_roots)
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        #: site key -> (tree hash, message, log) of the last failed build
        self._failed: dict[str, tuple[str, str, str]] = {}

    def site_dir(self, namespace: str, kind: str, name: str) -> Path:
        """The directory of an entity's built site (parts lower-cased: refs ignore case)."""
        parts = [p.lower() for p in (namespace, kind, name)]
        if any(not p or p in (".", "..") or "/" in p or "\\" in p for p in parts):
            raise InvalidInput(f"not an entity ref: {namespace}/{kind}/{name}")
        return self.out_root.joinpath(*parts)

    def _site_of(self, entity: Mapping[str, Any]) -> Path:
        meta = entity.get("metadata") or {}
        return self.site_dir(
            str(meta.get("namespace") or "default"), str(entity.get("kind")), str(meta.get("name"))
        )

    def status(self, entity: Mapping[str, Any]) -> BuildStatus:
        """Where the entity's site stands, without starting a build."""
        site = self._site_of(entity)
        meta = _read_meta(site)
        exists = site if (site / "index.html").is_file() else None
        with self._lock:
            if str(site) in self._running:
                return BuildStatus("building", exists, built_at=meta.get("built_at"))
            failed = self._failed.get(str(site))
        if failed is not None:
            return BuildStatus("failed", exists, failed[1], failed[2], meta.get("built_at"))
        if exists is not None:
            return BuildStatus("ready", exists, built_at=meta.get("built_at"))
        return BuildStatus("absent", None, "the docs have not been built yet")

    def ensure(self, entity: Mapping[str, Any], *, wait: float = 0.0) -> BuildStatus:
        """The site of ``entity``, building it (in a worker thread) when its docs changed.

        Waits up to ``wait`` seconds for a build it starts or finds running.

        Raises:
            NotFound, InvalidInput, Forbidden: as :func:`docs_source` (and a too large tree).
        """
        source = docs_source(entity, allowed_roots=self.allowed_roots)
        digest = tree_hash(source)
        site = self._site_of(entity)
        key = str(site)
        with self._lock:
            thread = self._running.get(key)
            if thread is None:
                meta = _read_meta(site)
                if meta.get("hash") == digest and (site / "index.html").is_file():
                    self._failed.pop(key, None)
                    return BuildStatus("ready", site, built_at=meta.get("built_at"))
                failed = self._failed.get(key)
                if failed is not None and failed[0] == digest:
                    return BuildStatus("failed", None, failed[1], failed[2])
                thread = threading.Thread(
                    target=self._build, args=(source, site, digest), name=f"techdocs {key}"
                )
                thread.daemon = True
                self._running[key] = thread
                thread.start()
        if wait > 0:
            thread.join(wait)
        return self.status(entity)

    def _build(self, source: DocsSource, site: Path, digest: str) -> None:
        key = str(site)
        try:
            message, log = self._run_mkdocs(source, site, digest)
            with self._lock:
                if message:
                    self._failed[key] = (digest, message, log)
                else:
                    self._failed.pop(key, None)
        finally:
            with self._lock:
                self._running.pop(key, None)

    def _run_mkdocs(self, source: DocsSource, site: Path, digest: str) -> tuple[str, str]:
        """Build into a fresh directory, then swap it in; ``("", log)`` on success else
        ``(message, log)``."""
        site.parent.mkdir(parents=True, exist_ok=True)
        fresh = site.parent / f".{site.name}.build-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="techdocs-") as tmp:
            config = source.config or _generated_config(source, Path(tmp))
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": tmp,
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            cmd = [sys.executable, "-c", _CHILD, str(config), str(fresh)]
            started = time.time()
            proc = subprocess.Popen(
                cmd,
                cwd=source.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                out, _ = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                shutil.rmtree(fresh, ignore_errors=True)
                return f"mkdocs build took more than {self.timeout:.0f} s and was stopped", ""
        log = out.decode(errors="replace")[-4000:]
        if proc.returncode != 0 or not (fresh / "index.html").is_file():
            shutil.rmtree(fresh, ignore_errors=True)
            return f"mkdocs build failed (exit {proc.returncode})", log
        meta = {"hash": digest, "built_at": time.time(), "seconds": time.time() - started}
        (fresh / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        old = site.parent / f".{site.name}.old-{uuid.uuid4().hex[:8]}"
        if site.exists():
            site.rename(old)
        fresh.rename(site)
        shutil.rmtree(old, ignore_errors=True)
        return "", log


def _generated_config(source: DocsSource, tmp: Path) -> Path:
    """A ``mkdocs.yml`` like ``techdocs-cli generate`` writes when a repository has none."""
    config = tmp / "mkdocs.yml"
    config.write_text(
        json.dumps(
            {
                "site_name": source.site_name,
                "docs_dir": str(source.docs_dir),
                "plugins": ["techdocs-core"],
            }
        ),
        encoding="utf-8",
    )
    return config
