"""Local builds: a service's git repository (or a published package) turned into a release on
local disk, the ``resolve``/``build``/``release`` part of the
:class:`~goldenpath.drivers.base.RuntimeDriver` contract.

Layout under ``home``::

    builds/mirrors/<sha256(repo)[:16]>.git    git clone --mirror, fetched before each resolve
    builds/locks/<service>--<release id>.lock  fcntl lock serialising builds of one release
    releases/<service>/<release id>/
        release.json                           written last: a directory without it is unfinished
        app/                                   the source at the sha (git archive of subdir),
                                               the process working directory
        app/.venv | app/node_modules           the built environment (python | node)
        .venv                                  the environment of a ``package`` build (app/ empty)

A release id is ``<sha[:12]>-<hash12>`` for git builds and ``pkg-<hash12>`` for packages,
``hash12`` digesting the request fields that change the build (kind, subdir, extra packages,
build command, package, the Python minor version), so the same input always gets the same id
and a second build is a cache hit (``Release.cached``). A build happens in a temporary
sibling directory and is renamed into place, so a crash never leaves a half-built release.
Releases never need the git host again: rollback works with it down.

Python builds use ``uv`` (a relocatable venv made with the platform's own interpreter; ``uv``
never downloads a Python): ``uv.lock`` → ``uv sync --frozen --no-dev --no-editable``;
``requirements.txt`` → ``uv pip install -r``; ``pyproject.toml``/``setup.py`` →
``uv pip install .``; then ``extra_packages``. Node builds: ``npm ci`` (``npm install`` without
a ``package-lock.json``), then ``npm run build`` when ``package.json`` has a build script.
``build_command`` replaces that last step (node) or runs after the install (python).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from goldenpath.drivers.base import BuildRequest, LogSink, Release, Revision
from goldenpath.drivers.local import _git
from goldenpath.drivers.local._buildtools import (
    CommandRunner,
    build_environment,
    check_requirement,
    find_uv,
    node_steps,
    python_steps,
)
from goldenpath.errors import InvalidInput, NotFound, Unavailable

__all__ = ["RELEASE_FILE", "LocalBuilder"]

#: Written last into a release directory; its presence means the build finished.
RELEASE_FILE = "release.json"
_FORMAT = 1  # bump when the layout or the build steps change: every id changes with it
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LOCK_POLL = 0.1


def _discard(line: str) -> None:
    """The default log sink."""


def _hash12(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            f"{what} {value!r} is not a valid name: use letters, digits, '.', '_' and '-' "
            "(at most 100 characters, starting with a letter or digit)"
        )
    return value


def _normal_subdir(subdir: str) -> str:
    path = PurePosixPath(subdir.strip() or ".")
    if path.is_absolute() or ".." in path.parts or "\\" in subdir:
        raise InvalidInput(
            f"subdir {subdir!r} must be a relative path inside the repository, without '..'"
        )
    return "" if str(path) == "." else str(path)


@contextlib.contextmanager
def _locked(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` (created) for the block.

    Raises:
        Unavailable: someone else held it for ``timeout`` seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        f"{what} is busy (another build holds {path}); retry later"
                    ) from e
                time.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class LocalBuilder:
    """Builds releases and keeps them under ``<home>/releases`` (see the module docstring).

    Args:
        home: the platform's data directory.
        timeout: seconds one build (fetch, export, install, build command) may take; the
            running tool's whole process group is killed past it.
        uv: the ``uv`` executable; default the one beside ``sys.executable``, else ``uv`` on
            ``PATH``.
        npm: the ``npm`` executable (name or path).

    Thread- and process-safe: builds of one release serialise on a lock file, fetches of one
    repository on another.
    """

    def __init__(
        self, home: Path, *, timeout: float = 900.0, uv: str | None = None, npm: str = "npm"
    ) -> None:
        self.home = Path(home)
        self.timeout = timeout
        self._uv = uv
        self._npm = npm
        self._mirrors = self.home / "builds" / "mirrors"
        self._locks = self.home / "builds" / "locks"
        self._releases = self.home / "releases"

    # -- revisions -----------------------------------------------------------------------

    def resolve(self, repo: str, ref: str) -> Revision:
        """Resolve ``ref`` (sha, branch or tag) in ``repo`` to a commit, fetching first.

        A full sha the local mirror already has needs no fetch; when the fetch fails (git
        host down) a ref the mirror knows is resolved from the mirror.

        Raises:
            InvalidInput: ``ref`` is not a usable ref.
            NotFound: no such repository, or no such ref in it.
            Unavailable: the git host is unreachable and the mirror does not know ``ref``.
        """
        return self._resolve(repo, ref, _discard, time.monotonic() + self.timeout)

    def _resolve(self, repo: str, ref: str, log: LogSink, deadline: float) -> Revision:
        if not isinstance(repo, str) or not repo.strip():
            raise InvalidInput("repo is empty: give the service's git URL or absolute path")
        _git.validate_ref(ref)
        mirror = _git.mirror_path(self._mirrors, repo)
        shown = _git.redact(repo)
        with _locked(mirror.with_suffix(".lock"), timeout=self.timeout, what=f"mirror of {shown}"):
            if _git.FULL_SHA.match(ref) and mirror.is_dir():
                known = _git.lookup(mirror, ref)
                if known is not None:
                    return known
            log(f"fetching {shown}")
            failure = ""
            if not mirror.is_dir():
                _git.clone_mirror(repo, mirror, timeout=deadline - time.monotonic())
            else:
                fetched = _git.fetch_mirror(mirror, timeout=deadline - time.monotonic())
                if not fetched.ok:
                    failure = fetched.reason()
                    log(f"fetch of {shown} failed ({failure}); using the local mirror")
            revision = _git.lookup(mirror, ref)
        if revision is not None:
            return revision
        if failure:
            raise Unavailable(
                f"cannot fetch {shown} ({failure}) and its local mirror has no ref {ref!r}; "
                "retry when the git host is reachable"
            )
        raise NotFound(f"{shown} has no branch, tag or commit {ref!r}; push it or fix the ref")

    # -- builds --------------------------------------------------------------------------

    def build(self, request: BuildRequest, log: LogSink = _discard) -> Release:
        """Build ``request`` into a release, or return the release already built for the same
        input (``cached=True``).

        Progress goes to ``log`` (``fetching <repo>``, ``exporting <sha12>``, every tool
        output line, ``uv pip install ... (3.2 s)``, ``cached release <id>``).

        Raises:
            InvalidInput: the request is malformed, or a build step failed (the message names
                the command and quotes its last output lines; ``details`` has
                ``command``/``exit_code``/``output_tail``) or timed out.
            NotFound: no such repository or ref.
            Unavailable: git host down for an unknown ref, a tool is missing, or another
                build of the same release held the lock for the whole timeout.
        """
        started = time.monotonic()
        deadline = started + self.timeout
        service = _check_name(request.service, "service")
        revision: Revision | None = None
        if request.kind == "package":
            if not request.package:
                raise InvalidInput(f"{service}: a package build needs `package` (e.g. 'datasette')")
            payload = self._payload(request)
            release_id = f"pkg-{_hash12(payload)}"
        elif request.kind in ("python", "node"):
            if not request.repo or not request.ref:
                raise InvalidInput(f"{service}: a {request.kind} build needs `repo` and `ref`")
            payload = self._payload(request)
            revision = self._resolve(request.repo, request.ref, log, deadline)
            release_id = f"{revision.sha[:12]}-{_hash12(payload)}"
        else:
            raise InvalidInput(
                f"{service}: unknown build kind {request.kind!r}; use python, node or package"
            )
        lock = self._locks / f"{service}--{release_id}.lock"
        with _locked(lock, timeout=self.timeout, what=f"release {release_id} of {service}"):
            existing = self.release(service, release_id)
            if existing is not None:
                log(f"cached release {release_id}")
                return existing
            return self._build_new(request, payload, release_id, revision, log, deadline)

    def _payload(self, request: BuildRequest) -> dict[str, Any]:
        """The request fields that change what a build produces (the id digests them)."""
        extras = [check_requirement(p, "extra package") for p in request.extra_packages]
        command = list(request.build_command) if request.build_command is not None else None
        payload: dict[str, Any] = {
            "format": _FORMAT,
            "kind": request.kind,
            "extra_packages": extras,
            "build_command": command,
        }
        if request.kind == "package":
            payload["package"] = check_requirement(request.package or "", "package")
        else:
            payload["subdir"] = _normal_subdir(request.subdir)
        if request.kind in ("python", "package"):
            payload["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
        return payload

    def _build_new(
        self,
        request: BuildRequest,
        payload: dict[str, Any],
        release_id: str,
        revision: Revision | None,
        log: LogSink,
        deadline: float,
    ) -> Release:
        started = time.monotonic()
        service_dir = self._releases / request.service
        final = service_dir / release_id
        service_dir.mkdir(parents=True, exist_ok=True)
        for stale in service_dir.glob(f".tmp-{release_id}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a crashed build of this release
        if final.exists():
            shutil.rmtree(final)  # no release.json: unfinished
        tmp = service_dir / f".tmp-{release_id}-{uuid.uuid4().hex[:8]}"
        app = tmp / "app"
        runner = CommandRunner(
            log=log,
            deadline=deadline,
            timeout=self.timeout,
            env=build_environment(),
            what=f"build of {request.service}",
        )
        try:
            if revision is not None:
                log(f"exporting {revision.sha[:12]}")
                mirror = _git.mirror_path(self._mirrors, request.repo or "")
                _git.export_tree(
                    mirror, revision.sha, payload["subdir"], app, timeout=runner.remaining()
                )
            else:
                app.mkdir(parents=True)
            if request.kind == "node":
                prepend = node_steps(request, app, runner, npm=self._npm)
            else:
                venv = tmp / ".venv" if request.kind == "package" else app / ".venv"
                prepend = python_steps(request, app, venv, runner, uv=find_uv(self._uv))
            record = {
                "format": _FORMAT,
                "id": release_id,
                "service": request.service,
                "kind": request.kind,
                "request": {
                    "repo": _git.redact(request.repo) if request.repo else None,
                    "ref": request.ref,
                    "subdir": payload.get("subdir", ""),
                    "package": payload.get("package"),
                    "extra_packages": payload["extra_packages"],
                    "build_command": payload["build_command"],
                },
                "revision": _revision_json(revision),
                "workdir": "app",
                "path_prepend": [p.relative_to(tmp).as_posix() for p in prepend],
                "built_at": datetime.now(UTC).isoformat(),
                "build_seconds": round(time.monotonic() - started, 3),
            }
            (tmp / RELEASE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"built release {release_id} ({time.monotonic() - started:.1f} s)")
        release = self.release(request.service, release_id)
        assert release is not None
        return dataclasses.replace(release, cached=False)

    # -- releases ------------------------------------------------------------------------

    def release(self, service: str, release_id: str) -> Release | None:
        """The finished release ``release_id`` of ``service`` on disk, else ``None`` (also for
        names that could not be ids). Needs no git host. ``cached`` is ``True``: nothing was
        built by this call."""
        if not _NAME.match(service or "") or not _NAME.match(release_id or ""):
            return None
        path = self._releases / service / release_id
        try:
            record = json.loads((path / RELEASE_FILE).read_text(encoding="utf-8"))
            return _release_from(path, record)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def releases(self, service: str) -> list[Release]:
        """Every finished release of ``service``, newest build first."""
        if not _NAME.match(service or ""):
            return []
        directory = self._releases / service
        found: list[tuple[str, Release]] = []
        for path in directory.iterdir() if directory.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                record = json.loads((path / RELEASE_FILE).read_text(encoding="utf-8"))
                found.append((str(record.get("built_at", "")), _release_from(path, record)))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        found.sort(key=lambda item: item[0], reverse=True)
        return [release for _, release in found]


def _revision_json(revision: Revision | None) -> dict[str, str] | None:
    if revision is None:
        return None
    return {
        "sha": revision.sha,
        "committed_at": revision.committed_at.isoformat(),
        "author": revision.author,
        "subject": revision.subject,
    }


def _release_from(path: Path, record: dict[str, Any]) -> Release:
    raw = record.get("revision")
    revision = (
        Revision(
            sha=raw["sha"],
            committed_at=datetime.fromisoformat(raw["committed_at"]),
            author=raw["author"],
            subject=raw["subject"],
        )
        if raw
        else None
    )
    return Release(
        id=record["id"],
        service=record["service"],
        path=path,
        workdir=path / record.get("workdir", "app"),
        path_prepend=tuple(path / p for p in record.get("path_prepend", [])),
        revision=revision,
        cached=True,
    )
